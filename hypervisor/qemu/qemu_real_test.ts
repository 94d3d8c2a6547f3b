/**
 * The QEMU driver against real QEMU under TCG (this host has no /dev/kvm,
 * /dev/vhost-vsock or /dev/vhost-net, so: accel tcg, vhost-net off, and the
 * vhost-vsock device left out). The "kernel" is a 36-byte multiboot stub
 * that halts: it proves QEMU runs our command line, not that a guest boots
 * (real guests run in the VM group).
 */
import { runChecked } from "../../tests/command.ts";
import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { FailedPreconditionError } from "../../common/errors.ts";
import { DeviceManager } from "../device_manager.ts";
import { type QemuConfigSection, qemuOptionsFromConfig } from "./options.ts";
import { Qemu } from "./qemu.ts";
import { testsNeeding } from "../../tests/tier.ts";

/** test: these tests need more than the unit tier (ignored, saying why, where missing). */
const test = testsNeeding({ root: true, peers: ["qemu-system-x86_64", "ip"] });

/** A multiboot (a.out kludge) image loaded at 1 MiB whose code is `cli; hlt; jmp $-1`. */
function multibootStub(): Uint8Array {
  const b = new Uint8Array(36);
  const v = new DataView(b.buffer);
  const magic = 0x1badb002, flags = 0x00010000;
  const fields = [magic, flags, (-(magic + flags)) >>> 0, 0x100000, 0x100000, 0, 0, 0x100020];
  fields.forEach((f, i) => v.setUint32(i * 4, f, true));
  b.set([0xfa, 0xf4, 0xeb, 0xfd], 32);
  return b;
}

/** Runs a command and returns its stdout; throws with its output when it fails. */
const sh = (cmd: string, ...args: string[]) => runChecked(cmd, args);

const SECTION: QemuConfigSection = {
  path: "qemu-system-x86_64",
  kernel: "",
  image: "",
  initrd: "",
  firmware: "",
  machine_type: "q35",
  machine_accelerators: "",
  cpu_features: "",
  default_vcpus: 1,
  default_maxvcpus: 2,
  default_memory: 128,
  default_maxmemory: 512,
  memory_slots: 4,
  rootfs_type: "ext4",
  vm_rootfs_driver: "virtio-pmem",
  block_device_driver: "virtio-blk",
  block_device_aio: "io_uring",
  disable_block_device_use: false,
  kernel_params: "",
  enable_debug: false,
  disable_vhost_net: true,
  network_queues: 1,
  entropy_source: "/dev/urandom",
  pcie_root_port: 2,
};

test("real QEMU (TCG): cold and hot NICs in a pod netns, hot block, pause/resume, vCPU and memory growth, clean stop", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rtts-qemu-" });
  const ns = `rtts-q-${Math.floor(Math.random() * 1e9)}`;
  await sh("ip", "netns", "add", ns);
  await Deno.writeFile(`${dir}/stub.bin`, multibootStub());
  await Deno.writeFile(`${dir}/rootfs.img`, new Uint8Array(2 << 20));
  await Deno.writeFile(`${dir}/data.img`, new Uint8Array(1 << 20));
  await sh("ip", "-n", ns, "tuntap", "add", "tap0_kata", "mode", "tap");
  await sh("ip", "-n", ns, "tuntap", "add", "tap1_kata", "mode", "tap");
  const o = {
    ...qemuOptionsFromConfig(
      { ...SECTION, kernel: `${dir}/stub.bin`, image: `${dir}/rootfs.img` },
      { cpus: 2, memoryMib: 4096 },
      dir,
    ),
    accel: "tcg" as const,
  };
  const qemu = new Qemu(o, {}, { noVhostVsock: true });
  let pid = 0;
  try {
    await qemu.prepareVm({ id: "q1", netnsPath: `/run/netns/${ns}` });
    const dm = new DeviceManager(qemu);
    const cold = await dm.attach({
      kind: "network",
      id: "n0",
      tapName: "tap0_kata",
      guestMac: "02:00:00:00:00:10",
      queues: 1,
    });
    assertEquals(cold.status, "queued");
    await qemu.startVm(30_000);
    pid = qemu.pids()[0];
    assert(pid > 0);
    await dm.boot(); // no-op for QEMU, marks cold devices attached
    assertEquals(dm.get("n0").status, "attached");

    const hot = await dm.attach({
      kind: "network",
      id: "n1",
      tapName: "tap1_kata",
      guestMac: "02:00:00:00:00:11",
      queues: 1,
    });
    assertEquals([
      hot.status,
      hot.device.kind === "network" && (hot.device as { guestPath?: string }).guestPath,
    ], ["attached", "10/00"]);
    const blk = await dm.attach({
      kind: "block",
      id: "b1",
      path: `${dir}/data.img`,
      readOnly: true,
    });
    assertEquals(blk.device.kind === "block" && blk.device.guestPath, "11/00");
    // Both root ports are taken now.
    await assertRejects(
      () => dm.attach({ kind: "block", id: "b2", path: `${dir}/data.img`, readOnly: true }),
      Error,
      "all 2 PCIe root ports are in use",
    );
    await assertRejects(() => qemu.bootVm().then(() => qemu.startVm(1)), FailedPreconditionError);
    assertEquals(qemu.saveState().netns, `/run/netns/${ns}`);

    await qemu.stopVm();
    assertEquals(await qemu.waitVm(), { code: 0, signal: null }); // quit, not killed
  } finally {
    await qemu.cleanup();
    await sh("ip", "netns", "del", ns);
  }
  assertEquals(qemu.pids(), []);
  let alive = true;
  try {
    Deno.statSync(`/proc/${pid}`);
  } catch {
    alive = false;
  }
  assertEquals(alive, false);
  assertEquals([...Deno.readDirSync(`${dir}/q1`)], []);
  await Deno.remove(dir, { recursive: true });
});

test("real QEMU (TCG): a bad command line fails start with QEMU's own message and leaves nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rtts-qemu-" });
  const o = {
    ...qemuOptionsFromConfig(
      {
        ...SECTION,
        kernel: `${dir}/missing-kernel`,
        initrd: "",
        image: `${dir}/none.img`,
        vm_rootfs_driver: "virtio-blk",
      },
      { cpus: 2, memoryMib: 4096 },
      dir,
    ),
    accel: "tcg" as const,
  };
  const qemu = new Qemu(o, {}, { noVhostVsock: true });
  try {
    await qemu.prepareVm({ id: "q2" });
    const e = await assertRejects(() => qemu.startVm(30_000));
    assert(e.message.includes('QEMU of sandbox "q2" exited'), e.message);
    assert(e.message.includes("none.img") || e.message.includes("missing-kernel"), e.message);
    assertEquals(qemu.state(), "stopped");
  } finally {
    await qemu.cleanup();
    await Deno.remove(dir, { recursive: true });
  }
});
