/**
 * VM group, end to end on the built-in VMM: a private containerd runs
 * busybox through our shim with the VirtContainer runtime and
 * `hypervisor_name = "dragonball"` (the shipped configuration-dragonball.toml
 * with a drop-in pointing at the guest from scripts/build-guest). The VM runs
 * inside the shim process; the container rootfs reaches the guest over the
 * VMM's own virtio-9p device (the shipped `shared_fs = "virtio-9p"`; the
 * VMM's inline virtio-fs is the other choice) and the agent over hybrid vsock. The container
 * prints the kernel's boot id, which must differ from the host's, and reads
 * back a file it wrote to its rootfs; then the
 * leak check (shim, mounts, FIFOs, /run/kata/<id>, bundle).
 *
 * Needs /dev/kvm: scripts/test-vm runs it inside scripts/testhost where this
 * machine has none.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { Containerd, IMAGE } from "../containerd/harness.ts";
import { configWithBuiltGuest, SLOW_VM_CONTAINERD } from "./guest_config.ts";
import { killClients, vmTest } from "./deadline.ts";
import { needs } from "../tier.ts";

vmTest({
  name: "ctr run through the VirtContainer runtime on the built-in VMM: the container runs in a VM",
  ignore: needs({ paths: ["/dev/kvm"] }).ignore,
  deadlineMs: 480_000,
}, async (ctx) => {
  {
    const cfgDir = await Deno.makeTempDir({ prefix: "rts-db-cfg-" });
    ctx.step("containerd to start");
    const c = await Containerd.start(SLOW_VM_CONTAINERD);
    ctx.evidence("containerd log (with the shim's and the guest console's lines)", () => c.log());
    // A hung `ctr` client is killed: the body's finally then stops containerd's tasks.
    ctx.onDeadline(() => killClients("ctr", c.address));
    try {
      const config = await configWithBuiltGuest("dragonball", cfgDir, ['kernel_params = ""']);
      const hostBoot = (await Deno.readTextFile("/proc/sys/kernel/random/boot_id")).trim();
      ctx.step("`ctr run --rm db1` (VM boot, agent, container) to end");
      const r = await c.ctr(
        "run",
        "--rm",
        "--runtime",
        c.shim,
        "--runtime-config-path",
        config,
        IMAGE,
        "db1",
        "sh",
        "-c",
        // The rootfs is the host's overlay served over 9p: a write must read back.
        "cat /proc/sys/kernel/random/boot_id; echo written-in-guest >/rootfs-write; cat /rootfs-write",
      );
      if (r.code !== 0) console.error((await c.log()).slice(-12000));
      assertEquals(r.code, 0, `ctr run failed: ${r.stdout}${r.stderr}`);
      const [guestBoot, written] = r.stdout.trim().split(/\r?\n/);
      assertMatch(guestBoot, /^[0-9a-f-]{36}$/);
      assertEquals(written, "written-in-guest");
      assert(guestBoot !== hostBoot, "the container saw the host's kernel: it did not run in a VM");
      ctx.step("the leak check of db1");
      await c.assertNoLeaks("db1");
    } finally {
      ctx.step("containerd's clean-up");
      await c.stop();
      await Deno.remove(cfgDir, { recursive: true });
    }
  }
});
