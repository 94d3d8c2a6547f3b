/**
 * The built-in VMM through the VirtContainer `Hypervisor` interface, booted
 * for real (inside the nested KVM test host): prepare, add a block device
 * and the vsock device, start, reach the guest's port 1024 through the agent
 * socket the driver reports (hybrid vsock, `CONNECT 1024`), stop, wait and
 * clean up. The guest runs a small vsock echo server where the Kata agent
 * would listen.
 */
import { assert, assertEquals } from "../assert.ts";
import { Dragonball, dragonballOptionsFromConfig } from "../../hypervisor/dragonball/driver.ts";
import { ensureKvm, kernelAssets, markerDisk, testInitrd } from "./vmm_assets.ts";
import { vmTest } from "./deadline.ts";

async function connectAgent(
  path: string,
  port: number,
  signal: AbortSignal,
  attempts = 600,
): Promise<Deno.UnixConn> {
  for (let i = 0; i < attempts && !signal.aborted; i++) {
    try {
      const conn = await Deno.connect({ transport: "unix", path });
      await conn.write(new TextEncoder().encode(`CONNECT ${port}\n`));
      const one = new Uint8Array(1);
      let line = "";
      while ((await conn.read(one)) !== null && one[0] !== 0x0a) {
        line += String.fromCharCode(one[0]);
      }
      if (line.startsWith("OK ")) return conn;
      conn.close(); // nobody listening yet: the VMM closed the socket
    } catch { /* socket not there yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the guest never accepted on vsock port ${port}`);
}

vmTest({
  name: "dragonball driver: boot, agent socket over hybrid vsock, stop, cleanup",
  deadlineMs: 240_000,
}, async (ctx) => {
  ctx.step("KVM modules and the guest assets");
  await ensureKvm();
  const k = await kernelAssets();
  const root = await Deno.makeTempDir({ prefix: "vmm-driver-" });
  const disk = `${root}/disk.img`;
  markerDisk(disk, "DRIVER-DISK");
  const d = new Dragonball(dragonballOptionsFromConfig({
    kernel: k.vmlinux,
    initrd: await testInitrd(),
    kernel_params: "vmmtest.vsock=1",
    default_vcpus: 1,
    default_memory: 256,
  }, `${root}/run`));
  // The VM runs in this process: stopping it is what ends its vCPU threads.
  ctx.onDeadline(() => d.stopVm().catch(() => {}));
  try {
    ctx.step("prepareVm and the devices");
    await d.prepareVm({ id: "sandbox-1" });
    const blk = await d.addDevice({ kind: "block", path: disk, readOnly: true });
    assertEquals(blk.kind === "block" && blk.guestPath, "/dev/vda");
    await d.addDevice({ kind: "vsock", guestCid: 3 });
    ctx.step("startVm (the guest boots)");
    await d.startVm(120_000);
    assertEquals(d.state(), "running");
    assertEquals(d.pids(), [Deno.pid]);
    const sock = d.agentSocket();
    assert(sock.kind === "hvsock");
    ctx.step(`the guest's echo server on vsock port ${sock.port} through ${sock.path}`);
    const conn = await connectAgent(sock.path, sock.port, ctx.signal);
    await conn.write(new TextEncoder().encode("agent-hello"));
    const buf = new Uint8Array(64);
    const n = await conn.read(buf);
    assertEquals(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "agent-hello");
    conn.close();
    ctx.step("stopVm and waitVm");
    await d.stopVm();
    assertEquals(await d.waitVm(), { code: 0, signal: null });
    assertEquals(d.state(), "stopped");
  } finally {
    await d.cleanup();
    const left = [...Deno.readDirSync(`${root}/run`)];
    await Deno.remove(root, { recursive: true });
    assertEquals(left.length, 0, "the driver left files in its run root");
  }
});
