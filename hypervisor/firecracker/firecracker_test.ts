/**
 * Firecracker driver tests. They run against a FAKE Firecracker
 * (`fake-firecracker` → `fake_fc_server.ts`): no Firecracker binary is
 * obtainable here. The fake enforces Firecracker's documented API rules
 * (pre-boot-only resources, integer fields, required fields, state machine),
 * so ordering mistakes fail the way they would against the real VMM.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../tests/assert.ts";
import {
  FailedPreconditionError,
  InvalidArgumentError,
  UnimplementedError,
} from "../../common/errors.ts";
import { nic, setup, sh, withLog } from "../../tests/firecracker/fake_fc.ts";
import { DeviceManager } from "../device_manager.ts";
import { cleanupFromState } from "../cleanup_state.ts";
import { FirecrackerApi, FirecrackerApiError } from "./api.ts";
import { Firecracker } from "./firecracker.ts";
import { firecrackerOptionsFromConfig } from "./options.ts";
import { testsNeeding } from "../../tests/tier.ts";

/** test: these tests need more than the unit tier (ignored, saying why, where missing). */
const test = testsNeeding({ root: true, peers: ["ip"] });

test("fake firecracker: full sandbox sequence, NICs sent only at boot before InstanceStart", async () => {
  const t = await setup();
  const tap = `rtfc${Math.floor(Math.random() * 1e6)}`;
  await sh("ip", "tuntap", "add", tap, "mode", "tap");
  const fc = new Firecracker({ ...firecrackerOptionsFromConfig(t.section, t.dir) });
  try {
    await withLog(t.requestLog, () => fc.prepareVm({ id: "sb1" }));
    const dm = new DeviceManager(fc);
    assertEquals((await dm.attach(nic("nic0", tap))).status, "queued");
    await fc.startVm(10_000);
    const afterStart = await t.requests();
    assert(
      !afterStart.some((r) => r.path.startsWith("/network-interfaces")),
      "NIC sent before boot",
    );
    assert(!afterStart.some((r) => r.path === "/actions"), "InstanceStart sent before boot");

    await dm.boot();
    assertEquals(dm.get("nic0").status, "attached");
    const log = await t.requests();
    assert(log.every((r) => r.status < 300), JSON.stringify(log.filter((r) => r.status >= 300)));
    const order = log.filter((r) => r.method !== "GET").map((r) => `${r.method} ${r.path}`);
    assertEquals(order, [
      "PUT /boot-source",
      "PUT /machine-config",
      "PUT /drives/rootfs",
      "PUT /drives/drive1",
      "PUT /drives/drive2",
      "PUT /drives/drive3",
      "PUT /drives/drive4",
      "PUT /drives/drive5",
      "PUT /vsock",
      "PUT /network-interfaces/nic0",
      "PUT /actions",
    ]);

    // Config mapping as Firecracker received it.
    const cfg = await new FirecrackerApi(`${t.dir}/sb1/run/fc.sock`).request(
      "GET",
      "/vm/config",
    ) as Record<
      string,
      // deno-lint-ignore no-explicit-any
      any
    >;
    assertEquals(cfg["machine-config"], { vcpu_count: 2, mem_size_mib: 256 });
    assertEquals(cfg["boot-source"].kernel_image_path, `${t.dir}/vmlinux`);
    assertEquals(
      cfg["boot-source"].boot_args,
      "reboot=k panic=1 systemd.unit=kata-containers.target systemd.mask=systemd-networkd.service " +
        "systemd.mask=systemd-networkd.socket pci=off iommu=off root=/dev/vda1 " +
        "rootflags=data=ordered,errors=remount-ro ro rootfstype=ext4 console=ttyS0 agent.log_vport=1025",
    );
    assertEquals(cfg.drives[0], {
      drive_id: "rootfs",
      path_on_host: `${t.dir}/rootfs.img`,
      is_root_device: false,
      is_read_only: true,
    });
    assertEquals(cfg.vsock, {
      guest_cid: 3,
      uds_path: `${t.dir}/sb1/kata.hvsock`,
      vsock_id: "root",
    });
    assertEquals(cfg["network-interfaces"], [{
      iface_id: "nic0",
      host_dev_name: tap,
      guest_mac: "02:00:ca:fe:00:01",
      rx_rate_limiter: { bandwidth: { size: 1000000, refill_time: 1000 } },
    }]);
    assertEquals(fc.agentSocket(), {
      kind: "hvsock",
      path: `${t.dir}/sb1/kata.hvsock`,
      port: 1024,
    });
    assertEquals(fc.state(), "running");

    // The hybrid vsock is declared once: a vsock device is accepted without a second PUT.
    const before = (await t.requests()).length;
    const vs = await dm.attach({ kind: "vsock", guestCid: 3, udsPath: "/elsewhere" });
    assertEquals(vs.device.kind === "vsock" && vs.device.udsPath, `${t.dir}/sb1/kata.hvsock`);
    assertEquals((await t.requests()).length, before);

    // A container block device after boot re-points a placeholder with PATCH.
    const blk = await dm.attach({
      kind: "block",
      id: "c1",
      path: `${t.dir}/disk.img`,
      readOnly: false,
    });
    assertEquals(blk.device.kind === "block" && blk.device.guestPath, "/dev/vdb");
    const patch = (await t.requests()).at(-1)!;
    assertEquals([patch.method, patch.path, patch.status], ["PATCH", "/drives/drive1", 204]);
    assertEquals(patch.body, { drive_id: "drive1", path_on_host: `${t.dir}/disk.img` });
    await dm.detach("c1");
    assertEquals((await t.requests()).at(-1)!.body, {
      drive_id: "drive1",
      path_on_host: `${t.dir}/sb1/root/drive1`,
    });

    assertEquals(
      (await new FirecrackerApi(`${t.dir}/sb1/run/fc.sock`).instanceInfo()).state,
      "Running",
    );
    assertEquals(fc.pids().length, 1);
    assertEquals(fc.saveState().api_socket, `${t.dir}/sb1/run/fc.sock`);
  } finally {
    await fc.cleanup();
    await sh("ip", "link", "del", tap);
  }
  // Nothing of ours is left: the process is gone and only the sandbox dir itself remains.
  assertEquals(fc.pids(), []);
  assertEquals(fc.state(), "stopped");
  assertEquals([...Deno.readDirSync(`${t.dir}/sb1`)], []);
  await Deno.remove(t.dir, { recursive: true });
});

test("fake firecracker: a NIC added after InstanceStart is a clear error, and the fake refuses a raw PUT", async () => {
  const t = await setup();
  const tap = `rtfc${Math.floor(Math.random() * 1e6)}`;
  await sh("ip", "tuntap", "add", tap, "mode", "tap");
  const fc = new Firecracker(firecrackerOptionsFromConfig(t.section, t.dir));
  try {
    await withLog(t.requestLog, () => fc.prepareVm({ id: "sb2" }));
    await fc.startVm(1000);
    await fc.bootVm();
    const e = await assertRejects(() => fc.addDevice(nic("late", tap)), FailedPreconditionError);
    assertStringIncludes(e.message, "already booted and Firecracker has no network hotplug");
    // The device manager refuses it before reaching the driver.
    await assertRejects(
      () => new DeviceManager(fc).attach(nic("late2", tap)),
      FailedPreconditionError,
    );
    // What Firecracker itself answers to a NIC PUT after boot: 400 with its fault message.
    const api = new FirecrackerApi(`${t.dir}/sb2/run/fc.sock`);
    const apiErr = await assertRejects(
      () => api.putNetworkInterface({ iface_id: "x", host_dev_name: tap }),
      FirecrackerApiError,
    );
    assertEquals(apiErr.status, 400);
    assertEquals(
      apiErr.message,
      "Firecracker API PUT /network-interfaces/x failed with status 400: " +
        "The requested operation is not supported after starting the microVM.",
    );
    // And a second InstanceStart through the driver is refused by its state machine.
    await assertRejects(() => fc.bootVm(), FailedPreconditionError, "it is running, not started");
  } finally {
    await fc.cleanup();
    await sh("ip", "link", "del", tap);
    await Deno.remove(t.dir, { recursive: true });
  }
});

Deno.test("fake firecracker: API errors surface at once with Firecracker's fault message", async () => {
  const t = await setup();
  const fc = new Firecracker(firecrackerOptionsFromConfig(t.section, t.dir));
  try {
    await withLog(t.requestLog, () => fc.prepareVm({ id: "sb3" }));
    await fc.startVm(1000);
    // A tap that does not exist in the VMM's netns: FC fails to open it at the PUT.
    await fc.addDevice(nic("n0", "nosuchtap0"));
    const e = await assertRejects(() => fc.bootVm(), FirecrackerApiError);
    assertStringIncludes(e.message, "PUT /network-interfaces/n0 failed with status 400");
    assertStringIncludes(e.message, "Open tap device failed: nosuchtap0");
    // One attempt only: a 400 is not retried.
    assertEquals((await t.requests()).filter((r) => r.path === "/network-interfaces/n0").length, 1);
    // A float vcpu_count is what broke runtime-rs once: the fake refuses it like FC.
    const api = new FirecrackerApi(`${t.dir}/sb3/run/fc.sock`);
    const f = await assertRejects(
      () => api.request("PUT", "/machine-config", { vcpu_count: 1.5, mem_size_mib: 128 }),
      FirecrackerApiError,
    );
    assertStringIncludes(f.faultMessage, "expected an integer");
    // A rate limiter sent as a JSON string (the other runtime-rs bug) is refused too.
    await assertRejects(
      () =>
        api.request("PUT", "/drives/drive1", {
          drive_id: "drive1",
          path_on_host: `${t.dir}/disk.img`,
          is_root_device: false,
          rate_limiter: "{}",
        }),
      FirecrackerApiError,
      "expected struct RateLimiterConfig",
    );
  } finally {
    await fc.cleanup();
    await Deno.remove(t.dir, { recursive: true });
  }
});

Deno.test("fake firecracker: multi-queue taps, VFIO and shared fs are refused clearly", async () => {
  const t = await setup();
  let err = await assertRejects(
    () =>
      Promise.resolve().then(() =>
        new Firecracker(firecrackerOptionsFromConfig({ ...t.section, network_queues: 2 }, t.dir))
      ),
    InvalidArgumentError,
  );
  assertStringIncludes(err.message, "network_queues 2: Firecracker opens taps single-queue");
  const fc = new Firecracker(firecrackerOptionsFromConfig(t.section, t.dir));
  try {
    await withLog(t.requestLog, () => fc.prepareVm({ id: "sb4" }));
    err = await assertRejects(
      () => fc.addDevice({ ...nic("q", "tapq"), queues: 4 }),
      InvalidArgumentError,
    );
    assertStringIncludes(err.message, "with 4 queues: Firecracker opens taps single-queue");
    await assertRejects(
      () =>
        fc.addDevice({
          kind: "share_fs",
          fsType: "virtio-fs",
          mountTag: "kataShared",
          hostPath: "",
          socketPath: "/s",
        }),
      Error,
      "Firecracker has no virtio-fs or 9p",
    );
    await assertRejects(
      () => fc.addDevice({ kind: "vfio", bdf: "0000:06:02.5" }),
      UnimplementedError,
      "VFIO passthrough is not supported",
    );
  } finally {
    await fc.cleanup();
    await Deno.remove(t.dir, { recursive: true });
  }
});

Deno.test("fake firecracker: VMM death during prepare reports its stderr, stop/wait report the exit", async () => {
  const t = await setup();
  // A netns path that does not exist: nsenter fails before the VMM starts.
  const fc = new Firecracker(firecrackerOptionsFromConfig(t.section, t.dir));
  const e = await assertRejects(() => fc.prepareVm({ id: "sb5", netnsPath: `${t.dir}/no-netns` }));
  assertStringIncludes(e.message, 'Firecracker of sandbox "sb5" exited');
  assertStringIncludes(e.message, "no-netns");
  await fc.cleanup();
  const fc2 = new Firecracker(firecrackerOptionsFromConfig(t.section, t.dir));
  try {
    await withLog(t.requestLog, () => fc2.prepareVm({ id: "sb6" }));
    await fc2.stopVm();
    assertEquals(await fc2.waitVm(), { code: null, signal: "SIGKILL" });
  } finally {
    await fc2.cleanup();
    await Deno.remove(t.dir, { recursive: true });
  }
});

test("fake jailer + fake firecracker: jail layout, files bound into the jail, --netns, relative paths, no mounts left", async () => {
  const t = await setup();
  const ns = `rtts-fcj-${Math.floor(Math.random() * 1e9)}`;
  await sh("ip", "netns", "add", ns);
  await sh("ip", "-n", ns, "tuntap", "add", "tap0_kata", "mode", "tap");
  const jailer = new URL("../../tests/firecracker/fake-jailer", import.meta.url).pathname;
  const fc = new Firecracker(
    firecrackerOptionsFromConfig({ ...t.section, jailer_path: jailer }, t.dir),
  );
  const vmPath = `${t.dir}/fake-firecracker/sbj`;
  try {
    await withLog(t.requestLog, () => fc.prepareVm({ id: "sbj", netnsPath: `/run/netns/${ns}` }));
    await fc.startVm(1000);
    await fc.addDevice(nic("n0", "tap0_kata"));
    await fc.bootVm();
    const blk = await fc.addDevice({
      kind: "block",
      id: "c1",
      path: `${t.dir}/disk.img`,
      readOnly: false,
    });
    assertEquals(blk.kind === "block" && blk.index, 1);
    const cfg = await new FirecrackerApi(`${vmPath}/root/run/fc.sock`).request(
      "GET",
      "/vm/config",
    ) as {
      "boot-source": { kernel_image_path: string };
      drives: { drive_id: string; path_on_host: string }[];
      vsock: { uds_path: string };
    };
    // Inside the jail the VMM sees only relative names.
    assertEquals(cfg["boot-source"].kernel_image_path, "vmlinux");
    assertEquals(cfg.drives.map((d) => d.path_on_host), [
      "rootfs",
      "drive1",
      "drive2",
      "drive3",
      "drive4",
      "drive5",
    ]);
    assertEquals(cfg.vsock.uds_path, "kata.hvsock");
    assertEquals(fc.agentSocket(), {
      kind: "hvsock",
      path: `${vmPath}/root/kata.hvsock`,
      port: 1024,
    });
    // The data disk is bound over drive1 inside the jail.
    assertEquals((await Deno.stat(`${vmPath}/root/drive1`)).size, 16);
    const state = fc.saveState();
    assertEquals([state.jailed, state.jailer_root, state.vm_path], [true, t.dir, vmPath]);
  } finally {
    await fc.cleanup();
    await sh("ip", "netns", "del", ns);
  }
  const mounts = await Deno.readTextFile("/proc/self/mountinfo");
  assertEquals(mounts.includes(t.dir), false);
  assertEquals(await Deno.stat(vmPath).then(() => true, () => false), false);
  await Deno.remove(t.dir, { recursive: true });
});

test("fake jailer + fake firecracker: cleanup from saved state alone (driver object lost) kills the VMM and removes the jail", async () => {
  const t = await setup();
  const jailer = new URL("../../tests/firecracker/fake-jailer", import.meta.url).pathname;
  const fc = new Firecracker(
    firecrackerOptionsFromConfig({ ...t.section, jailer_path: jailer }, t.dir),
  );
  await withLog(t.requestLog, () => fc.prepareVm({ id: "sbs" }));
  await fc.addDevice({ kind: "block", id: "c1", path: `${t.dir}/disk.img`, readOnly: true });
  const state = JSON.parse(JSON.stringify(fc.saveState()));
  await cleanupFromState(state);
  assertEquals((await fc.waitVm()).signal, "SIGKILL");
  assertEquals((await Deno.readTextFile("/proc/self/mountinfo")).includes(t.dir), false);
  assertEquals(await Deno.stat(state.vm_path).then(() => true, () => false), false);
  await fc.cleanup();
  await Deno.remove(t.dir, { recursive: true });
});

Deno.test("fake firecracker: cleanup from saved state leaves the sandbox directory's other files", async () => {
  const t = await setup();
  const fc = new Firecracker(firecrackerOptionsFromConfig(t.section, t.dir));
  await withLog(t.requestLog, () => fc.prepareVm({ id: "sbt" }));
  await Deno.writeTextFile(`${t.dir}/sbt/state.json`, "{}");
  await cleanupFromState(JSON.parse(JSON.stringify(fc.saveState())));
  assertEquals((await fc.waitVm()).signal, "SIGKILL");
  assertEquals([...Deno.readDirSync(`${t.dir}/sbt`)].map((e) => e.name), ["state.json"]);
  await fc.cleanup();
  await Deno.remove(t.dir, { recursive: true });
});
