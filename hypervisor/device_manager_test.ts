import { assert, assertEquals, assertRejects, assertThrows } from "../tests/assert.ts";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnimplementedError,
} from "../common/errors.ts";
import { type Device, rateLimiterFromMaxRate, validateDevice } from "./device.ts";
import { DeviceManager } from "./device_manager.ts";
import type { Capabilities, Hypervisor, HypervisorState, VmState } from "./hypervisor.ts";
import { agentSocketUrl } from "./hypervisor.ts";

/** A recording in-memory driver (a test double of our own interface, not of a VMM). */
class RecordingHypervisor implements Hypervisor {
  readonly kind = "firecracker" as const;
  vmState: VmState = "prepared";
  calls: string[] = [];
  constructor(public caps: Capabilities) {}
  state() {
    return this.vmState;
  }
  prepareVm() {
    return Promise.resolve();
  }
  startVm() {
    this.vmState = "started";
    return Promise.resolve();
  }
  bootVm() {
    this.calls.push("boot");
    this.vmState = "running";
    return Promise.resolve();
  }
  stopVm() {
    return Promise.resolve();
  }
  waitVm() {
    return Promise.resolve({ code: 0, signal: null });
  }
  addDevice(d: Device) {
    this.calls.push(`add ${d.kind} ${d.id}`);
    return Promise.resolve(d.kind === "block" ? { ...d, guestPath: "/dev/vdb" } : d);
  }
  removeDevice(d: Device) {
    this.calls.push(`remove ${d.id}`);
    return Promise.resolve();
  }
  agentSocket() {
    return { kind: "hvsock" as const, path: "/run/x/kata.hvsock", port: 1024 };
  }
  pids() {
    return [];
  }
  capabilities() {
    return this.caps;
  }
  cleanup() {
    return Promise.resolve();
  }
  saveState(): HypervisorState {
    throw new Error("unused");
  }
}

const NO_HOTPLUG: Capabilities = {
  blockDevice: true,
  blockHotplug: false,
  netHotplug: false,
  fsSharing: false,
  hybridVsock: true,
  agentBlockDriver: "blk",
};
const nic = (id?: string): Device => ({
  kind: "network",
  id,
  tapName: "tap0_kata",
  guestMac: "02:00:00:00:00:01",
  queues: 1,
});

Deno.test("attach assigns a 16-hex id and records the driver's result", async () => {
  const hv = new RecordingHypervisor(NO_HOTPLUG);
  const dm = new DeviceManager(hv);
  const rec = await dm.attach({ kind: "block", path: "/img", readOnly: true });
  assert(/^[0-9a-f]{16}$/.test(rec.device.id), rec.device.id);
  assertEquals(rec.device.kind === "block" && rec.device.guestPath, "/dev/vdb");
  assertEquals(rec.status, "queued"); // not booted yet
  assertEquals(dm.get(rec.device.id), rec);
});

Deno.test("NICs for a non-hotplug VM are queued until boot, then attached", async () => {
  const hv = new RecordingHypervisor(NO_HOTPLUG);
  const dm = new DeviceManager(hv);
  await hv.startVm();
  const rec = await dm.attach(nic("n1"));
  assertEquals(rec.status, "queued");
  await dm.boot();
  assertEquals(dm.get("n1").status, "attached");
  assertEquals(hv.calls, ["add network n1", "boot"]);
});

Deno.test("a NIC for a running non-hotplug VM is refused before reaching the driver", async () => {
  const hv = new RecordingHypervisor(NO_HOTPLUG);
  hv.vmState = "running";
  const dm = new DeviceManager(hv);
  const e = await assertRejects(() => dm.attach(nic("late")), FailedPreconditionError);
  assertEquals(
    e.message,
    'Cannot attach network device "late" to running firecracker VM: no network hotplug',
  );
  assertEquals(hv.calls, []);
  assertEquals(dm.list(), []);
});

Deno.test("a NIC for a running hotplug VM is attached at once", async () => {
  const hv = new RecordingHypervisor({ ...NO_HOTPLUG, netHotplug: true });
  hv.vmState = "running";
  const dm = new DeviceManager(hv);
  assertEquals((await dm.attach(nic("n"))).status, "attached");
});

Deno.test("block devices after boot need block support; the driver decides the rest", async () => {
  const hv = new RecordingHypervisor(NO_HOTPLUG);
  hv.vmState = "running";
  const dm = new DeviceManager(hv);
  assertEquals((await dm.attach({ kind: "block", path: "/b", readOnly: true })).status, "attached");
  hv.caps = { ...NO_HOTPLUG, blockDevice: false };
  await assertRejects(
    () => dm.attach({ kind: "block", path: "/c", readOnly: true }),
    FailedPreconditionError,
    "no block device support",
  );
  hv.caps = NO_HOTPLUG;
  await assertRejects(
    () => dm.attach({ kind: "share_fs", fsType: "virtio-9p", mountTag: "t", hostPath: "/s" }),
    FailedPreconditionError,
    "no file system sharing",
  );
});

Deno.test("duplicate ids, unknown ids, VFIO and stopped VMs are refused", async () => {
  const hv = new RecordingHypervisor(NO_HOTPLUG);
  const dm = new DeviceManager(hv);
  await dm.attach(nic("a"));
  await assertRejects(() => dm.attach(nic("a")), AlreadyExistsError);
  assertThrows(() => dm.get("zz"), NotFoundError);
  await assertRejects(() => dm.detach("zz"), NotFoundError);
  await assertRejects(() => dm.attach({ kind: "vfio", bdf: "0000:06:02.5" }), UnimplementedError);
  hv.vmState = "stopped";
  await assertRejects(() => dm.attach(nic("b")), FailedPreconditionError);
});

Deno.test("detach goes through the driver", async () => {
  const hv = new RecordingHypervisor(NO_HOTPLUG);
  const dm = new DeviceManager(hv);
  await dm.attach({ kind: "block", id: "d1", path: "/a", readOnly: false });
  assertEquals(dm.get("d1").device.kind === "block" && dm.get("d1").device, {
    kind: "block",
    id: "d1",
    path: "/a",
    readOnly: false,
    guestPath: "/dev/vdb",
  });
  await dm.detach("d1");
  assertEquals(dm.list(), []);
  assertEquals(hv.calls, ["add block d1", "remove d1"]);
});

Deno.test("validateDevice names the bad field", () => {
  const e = assertThrows(
    () => validateDevice({ ...nic("x"), guestMac: "zz" } as Device),
    InvalidArgumentError,
  );
  assertEquals(e.message, 'Invalid network device "x": guest MAC "zz" is not aa:bb:cc:dd:ee:ff');
  assertThrows(
    () => validateDevice({ ...nic(), queues: 0 } as Device),
    InvalidArgumentError,
    "queues 0",
  );
  assertThrows(
    () => validateDevice({ ...nic(), tapName: "a".repeat(16) } as Device),
    InvalidArgumentError,
    "longer than 15",
  );
  assertThrows(
    () => validateDevice({ kind: "vsock", guestCid: 2 }),
    InvalidArgumentError,
    "guest CID 2",
  );
  assertThrows(
    () =>
      validateDevice({
        kind: "block",
        path: "/x",
        readOnly: true,
        rateLimiter: { ops: { size: 1.5, refillTimeMs: 1 } },
      }),
    InvalidArgumentError,
    "ops size 1.5",
  );
  assertThrows(
    () => validateDevice({ kind: "share_fs", fsType: "virtio-fs", mountTag: "k", hostPath: "" }),
    InvalidArgumentError,
    "virtiofsd",
  );
  validateDevice({ kind: "share_fs", fsType: "virtio-9p", mountTag: "kataShared", hostPath: "/s" });
});

Deno.test("rate limiter from max rate and agent socket URLs", () => {
  assertEquals(rateLimiterFromMaxRate(0), undefined);
  assertEquals(rateLimiterFromMaxRate(1000), { bandwidth: { size: 1000, refillTimeMs: 1000 } });
  assertThrows(() => rateLimiterFromMaxRate(-1), InvalidArgumentError);
  assertEquals(agentSocketUrl({ kind: "vsock", cid: 7, port: 1024 }), "vsock://7:1024");
  assertEquals(
    agentSocketUrl({ kind: "hvsock", path: "/r/k.hvsock", port: 1024 }),
    "hvsock:///r/k.hvsock:1024",
  );
});
