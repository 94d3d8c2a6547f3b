/**
 * VM group, direct-assigned block volumes on the built-in VMM (issue 15): an
 * ext4 image on a loop device, holding a marker written from the host, is
 * registered with `shim-ctl direct-volume add`; a container that bind mounts
 * the registered path gets the loop device as a virtio disk mounted by the
 * guest agent (not a shared-fs mount of the host directory, which holds a
 * different marker). `shim-ctl direct-volume stats` reports its usage
 * through the sandbox's management socket. A file the guest writes is in
 * the image after the container is removed, and nothing is left attached.
 *
 * Needs /dev/kvm: scripts/test-vm runs it inside scripts/testhost.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { Containerd, IMAGE, run } from "../containerd/harness.ts";
import { runChecked } from "../command.ts";
import { removeTreeSafely } from "../../persist/remove_tree.ts";
import { configWithBuiltGuest, SLOW_VM_CONTAINERD } from "./guest_config.ts";
import { killClients, until, vmTest } from "./deadline.ts";
import { needs } from "../tier.ts";

const sh = (script: string) => runChecked("sh", ["-ec", script]);

vmTest({
  name:
    "built-in VMM: a registered direct volume reaches the container as its block device, with stats; written data stays in the image",
  ignore: needs({ paths: ["/dev/kvm"] }).ignore,
  deadlineMs: 480_000,
}, async (ctx) => {
  const work = await Deno.makeTempDir({ prefix: "rts-dv-" });
  const volumePath = `${work}/pv`;
  const image = `${work}/pv.img`;
  await Deno.mkdir(volumePath);
  // The host directory holds something else: seeing it would mean a bind mount.
  await Deno.writeTextFile(`${volumePath}/marker`, "host-directory");
  ctx.step("the ext4 image on a loop device");
  await sh(`truncate -s 64M ${image}; mkfs.ext4 -q -F ${image}`);
  await sh(
    `mkdir ${work}/mnt; mount -o loop ${image} ${work}/mnt; echo block-volume > ${work}/mnt/marker; umount ${work}/mnt`,
  );
  const loop = (await sh(`losetup --find --show ${image}`)).trim();
  let c: Containerd | undefined;
  let added = false;
  try {
    ctx.step("containerd to start");
    c = await Containerd.start(SLOW_VM_CONTAINERD);
    const ctrd = c;
    ctx.evidence(
      "containerd log (with the shim's and the guest console's lines)",
      () => ctrd.log(),
    );
    ctx.onDeadline(() => killClients("ctr", ctrd.address));
    const ctl = (...args: string[]) => run(ctrd.shim, ["shim-ctl", "direct-volume", ...args]);
    const add = await ctl(
      "add",
      "--volume-path",
      volumePath,
      "--mount-info",
      JSON.stringify({ volume_type: "block", device: loop, fs_type: "ext4", options: [] }),
    );
    assertEquals(add.code, 0, `direct-volume add: ${add.stdout}${add.stderr}`);
    added = true;
    const config = await configWithBuiltGuest("dragonball", `${work}`, ['kernel_params = ""']);
    const id = "dv1";
    ctx.step(`\`ctr run -d ${id}\` with the direct volume at /data (VM boot, disk hot-add)`);
    const r = await ctrd.ctr(
      "run",
      "-d",
      "--mount",
      `type=bind,src=${volumePath},dst=/data,options=rbind:rw`,
      "--runtime",
      ctrd.shim,
      "--runtime-config-path",
      config,
      IMAGE,
      id,
      "sleep",
      "600",
    );
    if (r.code !== 0) console.error((await ctrd.log()).slice(-12000));
    assertEquals(r.code, 0, `ctr run -d failed: ${r.stdout}${r.stderr}`);
    ctx.step(`\`ctr task exec\` in ${id}: /data's mount, marker, a write`);
    const e = await ctrd.ctr(
      "task",
      "exec",
      "--exec-id",
      "look",
      id,
      "sh",
      "-c",
      "grep ' /data ' /proc/mounts; cat /data/marker; echo from-the-guest > /data/written; sync",
    );
    assertEquals(e.code, 0, `exec failed: ${e.stdout}${e.stderr}`);
    const [mountLine, marker] = e.stdout.trim().split("\n");
    assertMatch(mountLine, /^\/dev\/vd[a-z] \/data ext4 rw/, `the container's /data: ${e.stdout}`);
    assertEquals(marker, "block-volume", "the container did not see the volume's file system");

    ctx.step("`shim-ctl direct-volume stats` through the management socket");
    const stats = await ctl("stats", "--volume-path", volumePath, "--sandbox", id);
    assertEquals(stats.code, 0, `direct-volume stats: ${stats.stdout}${stats.stderr}`);
    const usage = JSON.parse(stats.stdout).usage as { total: number; used: number; unit: string }[];
    const bytes = usage.find((u) => u.unit === "BYTES");
    assert(bytes && bytes.total > 32 * 1024 * 1024 && bytes.used > 0, `stats: ${stats.stdout}`);

    ctx.step(`${id} to be killed and removed`);
    await ctrd.ctrMust("task", "kill", "-s", "SIGKILL", id);
    // containerd 1.6's ctr has no `task wait`: the exit shows as STOPPED once
    // containerd has the shim's exit event, and only then may the task go.
    await until(
      `${id} listed STOPPED after its SIGKILL`,
      async () => (await ctrd.taskStatus(id)) === "STOPPED" ? true : undefined,
      ctx.signal,
    );
    await ctrd.ctrMust("task", "rm", id);
    await ctrd.ctrMust("container", "rm", id);
    await ctrd.assertNoLeaks(id);
    // Detached and unmounted in the guest: the host can mount it and sees the write.
    ctx.step("the guest's write, read back from the image on the host");
    const back = await sh(
      `mount -o ro ${loop} ${work}/mnt; cat ${work}/mnt/written; umount ${work}/mnt`,
    );
    assertEquals(back.trim(), "from-the-guest");
    assertEquals(await Deno.readTextFile(`${volumePath}/marker`), "host-directory");
  } finally {
    ctx.step("clean-up");
    if (added && c) {
      await run(c.shim, ["shim-ctl", "direct-volume", "remove", "--volume-path", volumePath]);
    }
    await c?.stop();
    await sh(`losetup -d ${loop}`).catch(() => {});
    // The product's mount-aware removal: unmounts and proves it before removing.
    removeTreeSafely(work);
  }
});
