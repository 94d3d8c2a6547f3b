/**
 * Firecracker driver tests. They run against a FAKE Firecracker
 * (`fake-firecracker` → `fake_fc_server.ts`): no Firecracker binary is
 * obtainable here. The fake enforces Firecracker's documented API rules
 * (pre-boot-only resources, integer fields, required fields, state machine),
 * so ordering mistakes fail the way they would against the real VMM.
 */
import { runChecked } from "../command.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../assert.ts";
import { FailedPreconditionError, InvalidArgumentError } from "../../common/errors.ts";
import { DeviceManager } from "../../hypervisor/device_manager.ts";
import { NetworkResource } from "../../resource/network/network_resource.ts";
import { cleanupFromState } from "../../hypervisor/cleanup_state.ts";
import { FirecrackerApi, FirecrackerApiError } from "../../hypervisor/firecracker/api.ts";
import { Firecracker } from "../../hypervisor/firecracker/firecracker.ts";
import {
  type FirecrackerConfigSection,
  firecrackerOptionsFromConfig,
} from "../../hypervisor/firecracker/options.ts";

const FAKE_FC = new URL("./fake-firecracker", import.meta.url).pathname;

interface Logged {
  method: string;
  path: string;
  body: Record<string, unknown> | null;
  status: number;
  state: string;
}

/** A temp dir with a kernel, an image and a data disk, and the request log of the fake. */
async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "rtts-fc-" });
  await Deno.writeFile(`${dir}/vmlinux`, new Uint8Array(16));
  await Deno.writeFile(`${dir}/rootfs.img`, new Uint8Array(16));
  await Deno.writeFile(`${dir}/disk.img`, new Uint8Array(16));
  const requestLog = `${dir}/requests.jsonl`;
  const section: FirecrackerConfigSection = {
    path: FAKE_FC,
    jailer_path: "",
    kernel: `${dir}/vmlinux`,
    image: `${dir}/rootfs.img`,
    initrd: "",
    rootfs_type: "ext4",
    kernel_params: "console=ttyS0 agent.log_vport=1025",
    default_vcpus: 1.5,
    default_memory: 256,
    disable_seccomp: false,
    enable_debug: false,
    network_queues: 1,
    rx_rate_limiter_max_rate: 1000000,
    tx_rate_limiter_max_rate: 0,
    disk_rate_limiter_bw_max_rate: 0,
    disk_rate_limiter_bw_one_time_burst: 0,
    disk_rate_limiter_ops_max_rate: 0,
    disk_rate_limiter_ops_one_time_burst: 0,
  };
  const requests = async (): Promise<Logged[]> =>
    (await Deno.readTextFile(requestLog)).trim().split("\n").map((l) => JSON.parse(l));
  return { dir, section, requestLog, requests };
}

/** Runs `fn` with FAKE_FC_REQUEST_LOG set for the spawned fake. */
async function withLog<T>(path: string, fn: () => Promise<T>): Promise<T> {
  Deno.env.set("FAKE_FC_REQUEST_LOG", path);
  try {
    return await fn();
  } finally {
    Deno.env.delete("FAKE_FC_REQUEST_LOG");
  }
}

const nic = (id: string, tapName: string) => ({
  kind: "network" as const,
  id,
  tapName,
  guestMac: "02:00:ca:fe:00:01",
  queues: 1,
});

/** Runs a command and returns its stdout; throws with its output when it fails. */
const sh = (cmd: string, ...args: string[]) => runChecked(cmd, args);

Deno.test("fake firecracker: full sandbox sequence, NICs sent only at boot before InstanceStart", async () => {
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

    await fc.pauseVm();
    assertEquals(
      (await new FirecrackerApi(`${t.dir}/sb1/run/fc.sock`).instanceInfo()).state,
      "Paused",
    );
    await fc.resumeVm();
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

Deno.test("fake firecracker: a NIC added after InstanceStart is a clear error, and the fake refuses a raw PUT", async () => {
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
      Error,
      "VFIO is not supported",
    );
    await assertRejects(() => fc.resizeVcpu(4), Error, "no vCPU hotplug");
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

Deno.test("fake firecracker in a pod netns: a veth made by a hook after start is found by the rescan and configured at boot", async () => {
  // The rescan is the network resource's real netns scan (resource/network/):
  // it finds the veth the "createRuntime hook" made, plumbs tap0_kata with
  // tc redirects in the pod netns, and hands the NIC over before boot.
  const t = await setup();
  const ns = `rtts-fc-${Math.floor(Math.random() * 1e9)}`;
  await sh("ip", "netns", "add", ns);
  const netnsPath = `/run/netns/${ns}`;
  const fc = new Firecracker(firecrackerOptionsFromConfig(t.section, t.dir));
  const net = new NetworkResource(netnsPath, { model: "tcfilter", queues: 1 });
  try {
    await withLog(t.requestLog, () => fc.prepareVm({ id: "sb7", netnsPath }));
    await fc.startVm(1000);
    // Nothing in the netns yet (the CNI hook has not run): the first scan finds nothing.
    assertEquals(await net.attach(fc), []);
    // "createRuntime hook": the CNI veth appears only now, after start.
    await sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "veth-host");
    await sh("ip", "-n", ns, "addr", "add", "10.88.0.2/24", "dev", "eth0");
    await sh("ip", "-n", ns, "link", "set", "eth0", "up");
    const mac = JSON.parse(await sh("ip", "-j", "-n", ns, "link", "show", "eth0"))[0].address;
    // The rescan: Firecracker cannot hotplug, so the endpoint is plumbed and queued.
    assertEquals(await net.attach(fc), []);
    assertEquals(net.queuedCount(), 1);
    const before = await t.requests();
    assert(!before.some((r) => r.path.startsWith("/network-interfaces")), "NIC sent before boot");
    // Boot: the resource hands its queued NIC over, the driver sends it, then InstanceStart.
    await net.flushQueued(fc);
    await fc.bootVm();
    const order = (await t.requests()).slice(before.length).map((r) =>
      `${r.method} ${r.path} ${r.status}`
    );
    assertEquals(order, ["PUT /network-interfaces/tap0_kata 204", "PUT /actions 204"]);
    const cfg = await new FirecrackerApi(`${t.dir}/sb7/run/fc.sock`).request(
      "GET",
      "/vm/config",
    ) as {
      "network-interfaces": { iface_id: string; host_dev_name: string; guest_mac: string }[];
    };
    // The tap lives only in the pod netns, so the PUT succeeded only because the VMM joined it.
    assertEquals(cfg["network-interfaces"].map((n) => [n.host_dev_name, n.guest_mac]), [[
      "tap0_kata",
      mac,
    ]]);
    assertEquals(fc.saveState().netns, netnsPath);
    // A link that appears after boot is refused clearly, not dropped.
    await sh("ip", "-n", ns, "link", "add", "eth1", "type", "veth", "peer", "name", "veth-host1");
    await sh("ip", "-n", ns, "addr", "add", "10.89.0.2/24", "dev", "eth1");
    await assertRejects(() => net.attach(fc), FailedPreconditionError, "cannot hotplug NICs");
  } finally {
    await fc.stopVm();
    await net.detach(fc);
    await fc.cleanup();
    await sh("ip", "netns", "del", ns);
    await Deno.remove(t.dir, { recursive: true });
  }
});

Deno.test("fake jailer + fake firecracker: jail layout, files bound into the jail, --netns, relative paths, no mounts left", async () => {
  const t = await setup();
  const ns = `rtts-fcj-${Math.floor(Math.random() * 1e9)}`;
  await sh("ip", "netns", "add", ns);
  await sh("ip", "-n", ns, "tuntap", "add", "tap0_kata", "mode", "tap");
  const jailer = new URL("./fake-jailer", import.meta.url).pathname;
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

Deno.test("fake jailer + fake firecracker: cleanup from saved state alone (driver object lost) kills the VMM and removes the jail", async () => {
  const t = await setup();
  const jailer = new URL("./fake-jailer", import.meta.url).pathname;
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
