/**
 * Real QEMU (TCG, no guest, started paused with -S) driven through our QMP
 * client: status, stop/cont, a hotplugged NIC backend and device, quit.
 */
import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { QmpClient, QmpError } from "./qmp.ts";
import { testsNeeding } from "../../tests/tier.ts";

/** test: these tests need more than the unit tier (ignored, saying why, where missing). */
const test = testsNeeding({ peers: ["qemu-system-x86_64"] });

test("real QEMU: query-status, cont, stop, netdev/device hotplug, quit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rtts-qmp-" });
  const sock = `${dir}/qmp.sock`;
  const child = new Deno.Command("qemu-system-x86_64", {
    args: [
      "-machine",
      "q35",
      "-accel",
      "tcg",
      "-S",
      "-nodefaults",
      "-display",
      "none",
      "-m",
      "64M,slots=2,maxmem=256M",
      "-device",
      "pcie-root-port,id=rp0,bus=pcie.0,chassis=1,slot=1,addr=0x10",
      "-qmp",
      `unix:${sock},server=on,wait=off`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const exited = child.output();
  try {
    const q = await QmpClient.connect(sock, { abandon: exited });
    assertEquals(q.greeting.version.qemu.major >= 6, true);
    const pre = await q.queryStatus();
    assertEquals([pre.status, pre.running], ["prelaunch", false]);
    await q.execute("cont");
    assertEquals((await q.queryStatus()).running, true);
    await q.execute("stop");
    const paused = await q.queryStatus();
    assertEquals([paused.status, paused.running], ["paused", false]);
    // A user-mode netdev (no tap needed) and a NIC on the hotplug root port.
    await q.execute("netdev_add", { type: "user", id: "n0" });
    await q.deviceAdd({
      driver: "virtio-net-pci",
      id: "nic0",
      netdev: "n0",
      bus: "rp0",
      mac: "02:00:00:00:00:09",
    });
    const e = await assertRejects(
      () => q.deviceAdd({ driver: "virtio-net-pci", id: "nic0", netdev: "n0", bus: "rp0" }),
      QmpError,
    );
    assertEquals(e.errorClass, "GenericError");
    // Shared hotplug memory, as the QEMU driver plugs it when virtio-fs is in use.
    await q.execute("object-add", {
      "qom-type": "memory-backend-file",
      id: "mem0",
      size: 64 * 1024 * 1024,
      "mem-path": "/dev/shm",
      share: true,
    });
    await q.deviceAdd({ driver: "pc-dimm", id: "dimm0", memdev: "mem0" });
    const shutdown = q.waitEvent("SHUTDOWN", () => true, 10_000);
    await q.quit();
    await shutdown.event.catch(() => {}); // QEMU may close before the event reaches us
    await q.closed;
    assertEquals((await exited).code, 0);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await exited;
    await Deno.remove(dir, { recursive: true });
  }
});
