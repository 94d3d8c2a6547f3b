/**
 * VM group: a block-device rootfs from containerd's devmapper snapshotter, as
 * upstream users run it. A thin pool on loop devices (tests/vm/devmapper_pool.ts),
 * containerd's devmapper snapshotter on it, busybox unpacked into it by
 * `ctr run --snapshotter devmapper`; the built-in VMM takes the snapshot's
 * device through a placeholder block slot after boot, the guest agent mounts
 * it as the container's root: the container sees its root on a virtio disk
 * (ext4 on /dev/vdX), writes a file and reads it back; after removal the
 * snapshot is gone from containerd, its thin device is released, and no
 * shim, mount or /run/kata entry is left.
 *
 * Both for the built-in VMM (a placeholder block slot) and for QEMU with its
 * shipped `block_device_driver = "virtio-scsi"` (hotplugged scsi-hd; the
 * agent finds the disk by its SCSI address).
 *
 * Needs /dev/kvm: scripts/test-vm runs it inside scripts/testhost.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { Containerd, IMAGE } from "../containerd/harness.ts";
import { vmTest, type VmTestContext } from "./deadline.ts";
import { configWithBuiltGuest, SLOW_VM_CONTAINERD } from "./guest_config.ts";
import { ThinPool } from "./devmapper_pool.ts";
import { removeTreeSafely } from "../../persist/remove_tree.ts";
import { needs } from "../tier.ts";

// dmsetup comes from scripts/install-deps; ignored, saying so, where it or KVM is missing.
const unmet = needs({ paths: ["/dev/kvm", "/usr/sbin/dmsetup"] }).ignore;

/** Thin devices of `poolName` that are open, as [name, open count, major:minor]. */
async function openThinDevices(poolName: string): Promise<string[][]> {
  const info = await new Deno.Command("dmsetup", {
    args: ["info", "-c", "--noheadings", "-o", "name,open,major,minor"],
  }).output();
  return new TextDecoder().decode(info.stdout).split("\n")
    .map((l) => l.trim().split(":"))
    .filter(([name, n]) => name?.startsWith(poolName) && name !== poolName && n !== "0")
    .map(([name, n, major, minor]) => [name, n, `${major}:${minor}`]);
}

/** Who holds the devices open: processes with an fd on them, mounts of them. */
async function holders(open: string[][]): Promise<string> {
  const out: string[] = [];
  const mountinfo = await Deno.readTextFile("/proc/self/mountinfo");
  for (const [name, , dev] of open) {
    for (const l of mountinfo.split("\n")) {
      if (l.split(" ")[2] === dev) out.push(`${name} mounted: ${l}`);
    }
    const minor = dev.split(":")[1];
    for await (const p of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(p.name)) continue;
      let fds: string[] = [];
      try {
        fds = [...Deno.readDirSync(`/proc/${p.name}/fd`)].map((e) => e.name);
      } catch { /* gone, or not ours to read */ }
      for (const fd of fds) {
        const to = await Deno.readLink(`/proc/${p.name}/fd/${fd}`).catch(() => "");
        if (to === `/dev/dm-${minor}` || to === `/dev/mapper/${name}`) {
          const cmd = await Deno.readTextFile(`/proc/${p.name}/cmdline`).catch(() => "");
          out.push(`${name} open by pid ${p.name}: ${cmd.replaceAll("\0", " ").slice(0, 160)}`);
        }
      }
    }
  }
  return out.join("; ") || "no process or mount holds them (a kernel holder: another dm target?)";
}

async function devmapperScenario(ctx: VmTestContext, hv: "dragonball" | "qemu"): Promise<void> {
  // The test host runs no udev: libdevmapper then makes the /dev/mapper nodes
  // itself (dmsetup here, and containerd's snapshotter through the environment
  // it inherits), or the snapshotter fails with "failed to query pool".
  Deno.env.set("DM_DISABLE_UDEV", "1");
  ctx.step("the thin pool");
  const work = await Deno.makeTempDir({ prefix: "rts-dm-" });
  const pool = await ThinPool.create("rts-dm-pool", `${work}/pool`);
  let c: Containerd | undefined;
  try {
    ctx.step("containerd with the devmapper snapshotter");
    c = await Containerd.start({
      ...SLOW_VM_CONTAINERD,
      extraConfig: [
        ...SLOW_VM_CONTAINERD.extraConfig,
        ...pool.containerdConfig(`${work}/snapshotter`),
      ],
    });
    ctx.evidence("containerd log", () => c!.log());
    const plugins = await c.ctrMust("plugins", "ls");
    if (!/io\.containerd\.snapshotter\.v1\s+devmapper\s+\S+\s+ok/.test(plugins)) {
      // Why it failed is only in containerd's log (gone once containerd stops).
      const why = (await c.log()).split("\n").filter((l) => /devmapper|dmsetup|thin/i.test(l));
      throw new Error(`containerd's devmapper snapshotter did not load:\n${why.join("\n")}`);
    }
    const cfgDir = `${work}/cfg`;
    await Deno.mkdir(cfgDir);
    const config = await configWithBuiltGuest(hv, cfgDir);
    await Deno.writeTextFile(
      `${cfgDir}/config.d/60-slow-agent-calls.toml`,
      "[agent.kata]\nrequest_timeout_ms = 300000\nreconnect_timeout_ms = 420000\n",
    );

    ctx.step("ctr run --snapshotter devmapper (unpack, boot, hot-add the rootfs disk)");
    const id = `dm-${hv}`;
    const r = await c.ctr(
      "run",
      "--rm",
      "--snapshotter",
      "devmapper",
      "--runtime",
      c.shim,
      "--runtime-config-path",
      config,
      IMAGE,
      id,
      "sh",
      "-c",
      "grep ' / ' /proc/mounts; echo on-the-disk > /written; cat /written",
    );
    if (r.code !== 0) console.error((await c.log()).slice(-8000));
    assertEquals(r.code, 0, `ctr run failed: ${r.stdout}${r.stderr}`);
    const root = r.stdout.split("\n").find((l) => l.split(" ")[1] === "/") ?? "";
    // virtio-blk disks are vdX; QEMU's shipped virtio-scsi gives sdX.
    const disk = hv === "qemu" ? /^\/dev\/sd[a-z] \/ ext4 / : /^\/dev\/vd[a-z] \/ ext4 /;
    assertMatch(root, disk, `the container's root: ${r.stdout}`);
    assert(r.stdout.includes("on-the-disk"), r.stdout);

    ctx.step("released: snapshot, thin device, shim, mounts");
    await c.assertNoLeaks(id);
    const snaps = await c.ctrMust("snapshots", "--snapshotter", "devmapper", "ls");
    assert(!snaps.split("\n").some((l) => l.startsWith(`${id} `)), `snapshot left: ${snaps}`);
    // Image layers may stay as thin devices; none may still be open (in use).
    // containerd releases a removed snapshot's device in the background: wait a little.
    let open: string[][] = [];
    for (let i = 0; i < 30; i++) {
      open = await openThinDevices(pool.name);
      if (open.length === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assertEquals(open, [], `thin devices still open after removal; ${await holders(open)}`);
  } finally {
    await c?.stop();
    await pool.destroy();
    // Mount-aware: unmounts whatever a failed run left below and proves it first.
    removeTreeSafely(work);
  }
}

vmTest({
  name:
    "built-in VMM + devmapper snapshotter: the container's root is a hot-added virtio disk; released on removal",
  deadlineMs: 600_000,
  ignore: unmet,
}, (ctx) => devmapperScenario(ctx, "dragonball"));

vmTest({
  name:
    "QEMU (shipped virtio-scsi) + devmapper snapshotter: the container's root is a hotplugged disk; released on removal",
  deadlineMs: 600_000,
  ignore: unmet,
}, (ctx) => devmapperScenario(ctx, "qemu"));
