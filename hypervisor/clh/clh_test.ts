/**
 * Cloud Hypervisor driver tests against a FAKE cloud-hypervisor
 * (`fake-cloud-hypervisor` → `fake_clh_server.ts`): no CH binary is
 * obtainable here. The fake enforces CH's documented API rules (404 without
 * a VM, 204 cold-add vs 200 + PciDeviceInfo hotplug, 409 duplicate ids,
 * virtio-fs needs shared memory, integer sizes).
 */
import { runChecked } from "../../tests/command.ts";
import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { FailedPreconditionError } from "../../common/errors.ts";
import { DeviceManager } from "../device_manager.ts";
import { ClhApi, ClhApiError } from "./api.ts";
import { Clh } from "./clh.ts";
import { type ClhConfigSection, clhOptionsFromConfig } from "./options.ts";
import { cleanupFromState } from "../cleanup_state.ts";
import { testsNeeding } from "../../tests/tier.ts";

/** test: these tests need more than the unit tier (ignored, saying why, where missing). */
const test = testsNeeding({ root: true, peers: ["ip"] });

const FAKE_CH = new URL("../../tests/clh/fake-cloud-hypervisor", import.meta.url).pathname;

/** Runs a command; throws with its output when it fails. */
const sh = (cmd: string, ...args: string[]) => runChecked(cmd, args);

async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "rtts-ch-" });
  await Deno.writeFile(`${dir}/vmlinux`, new Uint8Array(16));
  await Deno.writeFile(`${dir}/rootfs.img`, new Uint8Array(16));
  await Deno.writeFile(`${dir}/disk.img`, new Uint8Array(16));
  const section: ClhConfigSection = {
    path: FAKE_CH,
    kernel: `${dir}/vmlinux`,
    image: `${dir}/rootfs.img`,
    initrd: "",
    rootfs_type: "ext4",
    kernel_params: "",
    default_vcpus: 1,
    default_maxvcpus: 2,
    default_memory: 256,
    default_maxmemory: 512,
    enable_debug: false,
    shared_fs: "virtio-fs",
    disable_block_device_use: false,
    disable_seccomp: false,
    network_queues: 1,
    queue_size: 128,
    virtio_fs_queue_size: 1024,
    entropy_source: "/dev/urandom",
    rx_rate_limiter_max_rate: 0,
    tx_rate_limiter_max_rate: 0,
  };
  return { dir, options: clhOptionsFromConfig(section, { cpus: 4, memoryMib: 4096 }, dir) };
}

test("fake cloud-hypervisor: cold NIC in vm.create, boot, hotplugged disk/NIC/fs with PCI info, remove, resize, pause", async () => {
  const t = await setup();
  const ns = `rtts-ch-${Math.floor(Math.random() * 1e9)}`;
  await sh("ip", "netns", "add", ns);
  await sh("ip", "-n", ns, "tuntap", "add", "tap0_kata", "mode", "tap");
  await sh("ip", "-n", ns, "tuntap", "add", "tap1_kata", "mode", "tap");
  const ch = new Clh(t.options);
  try {
    await ch.prepareVm({ id: "c1", netnsPath: `/run/netns/${ns}` });
    const dm = new DeviceManager(ch);
    await dm.attach({
      kind: "network",
      id: "n0",
      tapName: "tap0_kata",
      guestMac: "02:00:00:00:00:20",
      queues: 1,
    });
    await ch.startVm(10_000);
    await dm.boot();
    const api = new ClhApi(`${t.dir}/c1/clh/api.sock`);
    // deno-lint-ignore no-explicit-any
    let info = await api.call("GET", "vm.info") as any;
    assertEquals(info.state, "Running");
    assertEquals(info.config.net.map((n: { tap: string }) => n.tap), ["tap0_kata"]);
    assertEquals(info.config.vsock, { id: "vsock", cid: 3, socket: `${t.dir}/c1/clh/kata.hvsock` });
    assertEquals(ch.agentSocket(), {
      kind: "hvsock",
      path: `${t.dir}/c1/clh/kata.hvsock`,
      port: 1024,
    });

    const n1 = await dm.attach({
      kind: "network",
      tapName: "tap1_kata",
      guestMac: "02:00:00:00:00:21",
      queues: 1,
    });
    assertEquals([n1.status, (n1.device as { guestPath?: string }).guestPath], [
      "attached",
      "0000:00:02.0",
    ]);
    const d1 = await dm.attach({
      kind: "block",
      id: "d1",
      path: `${t.dir}/disk.img`,
      readOnly: true,
    });
    assertEquals((d1.device as { guestPath?: string }).guestPath, "0000:00:03.0");
    await dm.attach({
      kind: "share_fs",
      id: "fs0",
      fsType: "virtio-fs",
      mountTag: "kataShared",
      hostPath: "",
      socketPath: "/vfs.sock",
    });
    // CH itself refuses a duplicate id with 409.
    const dup = await assertRejects(
      () => api.addDevice("disk", { id: "d1", path: `${t.dir}/disk.img` }),
      ClhApiError,
    );
    assertEquals([dup.status, dup.body], [409, "Identifier d1 is not unique"]);
    await dm.detach("d1");
    info = await api.call("GET", "vm.info");
    assertEquals(info.config.disks.map((d: { id: string }) => d.id), ["rootfs"]);
    // A tap missing from the pod netns is CH's error, reported with its body.
    await assertRejects(
      () =>
        ch.addDevice({
          kind: "network",
          tapName: "nosuch0",
          guestMac: "02:00:00:00:00:22",
          queues: 1,
        }),
      ClhApiError,
      "cannot open tap nosuch0",
    );
    await ch.stopVm();
    assertEquals(await ch.waitVm(), { code: 0, signal: null }); // vmm.shutdown, not killed
  } finally {
    await ch.cleanup();
    await sh("ip", "netns", "del", ns);
  }
  assertEquals([...Deno.readDirSync(`${t.dir}/c1`)], []);
  await Deno.remove(t.dir, { recursive: true });
});

Deno.test("fake cloud-hypervisor: refusals (9p, VFIO, before prepare, after stop) and cleanup from saved state", async () => {
  const t = await setup();
  const ch = new Clh(t.options);
  await assertRejects(
    () => ch.addDevice({ kind: "block", path: "/x", readOnly: true }),
    FailedPreconditionError,
    "it is not_ready",
  );
  await ch.prepareVm({ id: "c2" });
  await assertRejects(
    () => ch.addDevice({ kind: "share_fs", fsType: "virtio-9p", mountTag: "t", hostPath: "/s" }),
    Error,
    "only virtio-fs",
  );
  await assertRejects(
    () => ch.addDevice({ kind: "vfio", bdf: "0000:00:01.0" }),
    Error,
    "VFIO passthrough is not supported",
  );
  const state = JSON.parse(JSON.stringify(ch.saveState()));
  await cleanupFromState(state);
  assertEquals((await ch.waitVm()).signal, "SIGKILL");
  assertEquals(ch.state(), "stopped");
  await assertRejects(
    () => ch.addDevice({ kind: "block", path: "/x", readOnly: true }),
    FailedPreconditionError,
  );
  await ch.cleanup();
  assertEquals([...Deno.readDirSync(`${t.dir}/c2`)], []);
  await Deno.remove(t.dir, { recursive: true });
});
