/**
 * VM group: virtio-fs as upstream users run it. QEMU with
 * `configuration-qemu.toml` as shipped plus a test drop-in whose
 * `virtio_fs_daemon` is Debian's C virtiofsd (/usr/lib/qemu/virtiofsd) and
 * the built guest's long agent timeouts:
 *  - `ctr run -d` busybox: the container's root is a `virtiofs` mount of
 *    `kataShared` (its /proc/mounts); a file written on the host side of the
 *    share appears in the container and one written in the container appears
 *    on the host; one virtiofsd serves the sandbox's shared directory while
 *    it runs and is gone after the container is removed.
 *  - the same configuration with the daemon path pointing at a missing file:
 *    the run fails with an error naming that path, and nothing is left
 *    (shim, mounts, /run/kata entry, VMM, daemon).
 *
 * Needs /dev/kvm and /dev/vhost-vsock: scripts/test-vm runs it inside
 * scripts/testhost where this machine has none.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { Containerd, IMAGE } from "../containerd/harness.ts";
import { until, vmTest } from "./deadline.ts";
import { configWithBuiltGuest, SLOW_VM_CONTAINERD } from "./guest_config.ts";
import { needs } from "../tier.ts";

const C_VIRTIOFSD = "/usr/lib/qemu/virtiofsd";
const noKvm = needs({ paths: ["/dev/kvm"] }).ignore;
const noCVirtiofsd = needs({ paths: ["/dev/kvm", C_VIRTIOFSD] }).ignore;

/** Processes whose executable is `exe`, as "pid argv". */
async function processesOf(exe: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const path = await Deno.readLink(`/proc/${e.name}/exe`).catch(() => "");
    if (path !== exe) continue;
    const argv = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    out.push(`${e.name} ${argv.split("\0").join(" ").trim()}`);
  }
  return out;
}

/** Processes whose command name starts with `prefix`. */
async function processesNamed(prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const comm = await Deno.readTextFile(`/proc/${e.name}/comm`).catch(() => "");
    if (comm.startsWith(prefix)) out.push(`${e.name} ${comm.trim()}`);
  }
  return out;
}

/**
 * The shipped QEMU configuration plus the built guest, with `daemon` as the
 * virtio-fs daemon and agent calls given minutes (every FUSE request crosses
 * two levels of emulated virtualization here).
 */
async function configWith(daemon: string, dir: string): Promise<string> {
  const file = await configWithBuiltGuest("qemu", dir);
  // A drop-in of its own (later drop-ins override earlier ones key by key).
  await Deno.writeTextFile(
    `${dir}/config.d/60-virtiofs.toml`,
    [
      "[hypervisor.qemu]",
      `virtio_fs_daemon = "${daemon}"`,
      `valid_virtio_fs_daemon_paths = ["${daemon}"]`,
      "",
      "[agent.kata]",
      "request_timeout_ms = 300000",
      "reconnect_timeout_ms = 420000",
      "",
    ].join("\n"),
  );
  return file;
}

vmTest({
  name:
    "QEMU + Debian's C virtiofsd: the container's root is virtiofs, files cross both ways, the daemon goes with the sandbox",
  deadlineMs: 600_000,
  ignore: noCVirtiofsd,
}, async (ctx) => {
  ctx.step("containerd to start");
  const c = await Containerd.start(SLOW_VM_CONTAINERD);
  ctx.evidence("containerd log", () => c.log());
  const cfgDir = await Deno.makeTempDir({ prefix: "rts-vfs-cfg-" });
  const id = "vfs1";
  try {
    const config = await configWith(C_VIRTIOFSD, cfgDir);
    assertEquals(await processesOf(C_VIRTIOFSD), [], "no virtiofsd before the test");

    ctx.step("ctr run -d (VM boot through QEMU with virtio-fs)");
    const r = await c.ctr(
      "run",
      "-d",
      "--runtime",
      c.shim,
      "--runtime-config-path",
      config,
      IMAGE,
      id,
      "sleep",
      "600",
    );
    if (r.code !== 0) console.error((await c.log()).slice(-8000));
    assertEquals(r.code, 0, `ctr run -d failed: ${r.stdout}${r.stderr}`);

    const shared = `/run/kata/${id}/shared`;
    const daemons = await processesOf(C_VIRTIOFSD);
    assertEquals(daemons.length, 1, `one virtiofsd expected: ${daemons.join("; ")}`);
    assertStringIncludes(daemons[0], `source=${shared}`);

    const exec = async (execId: string, script: string) => {
      ctx.step(`exec ${execId}: ${script}`);
      const e = await c.ctr("task", "exec", "--exec-id", execId, id, "sh", "-c", script);
      assertEquals(e.code, 0, `exec ${script}: ${e.stdout}${e.stderr}`);
      return e.stdout;
    };

    // The container's view: its root is the virtio-fs share.
    const mounts = await exec("m", "cat /proc/mounts");
    const root = mounts.split("\n").find((l) => l.split(" ")[1] === "/");
    assert(root, `no / in the container's /proc/mounts:\n${mounts}`);
    // (A bind of a directory inside the share: the guest shows its source as "none".)
    assertEquals(root.split(" ")[2], "virtiofs", `root mount: ${root}`);

    // Host → container.
    const hostRoot = `${shared}/${id}/rootfs`;
    await Deno.writeTextFile(`${hostRoot}/from-host`, "written on the host\n");
    assertEquals(await exec("h", "cat /from-host"), "written on the host\n");

    // Container → host.
    await exec("g", "echo written in the guest > /from-guest; sync");
    assertEquals(await Deno.readTextFile(`${hostRoot}/from-guest`), "written in the guest\n");

    ctx.step("kill and remove the container");
    await c.ctrMust("task", "kill", "-s", "SIGKILL", id);
    await until("the task to stop", async () => {
      const ls = await c.ctrMust("task", "ls");
      return new RegExp(`${id}\\s+\\d+\\s+STOPPED`).test(ls) ? true : undefined;
    }, ctx.signal);
    await c.ctrMust("task", "rm", id);
    await c.ctrMust("container", "rm", id);
    await c.assertNoLeaks(id);
    assertEquals(await processesOf(C_VIRTIOFSD), [], "virtiofsd left after removal");
    assertEquals(await processesNamed("qemu"), [], "QEMU left after removal");
  } finally {
    await c.stop();
    await Deno.remove(cfgDir, { recursive: true });
  }
});

vmTest({
  name: "QEMU + virtio-fs with a missing daemon: the run fails naming the path, nothing leaks",
  deadlineMs: 300_000,
  ignore: noKvm,
}, async (ctx) => {
  ctx.step("containerd to start");
  const c = await Containerd.start(SLOW_VM_CONTAINERD);
  ctx.evidence("containerd log", () => c.log());
  const cfgDir = await Deno.makeTempDir({ prefix: "rts-vfs-cfg-" });
  const id = "vfs2";
  const missing = "/nonexistent/rts-virtiofsd";
  try {
    const config = await configWith(missing, cfgDir);
    ctx.step("ctr run with a missing virtio_fs_daemon");
    const r = await c.ctr(
      "run",
      "--rm",
      "--runtime",
      c.shim,
      "--runtime-config-path",
      config,
      IMAGE,
      id,
      "true",
    );
    assert(r.code !== 0, `ctr run succeeded without a virtio-fs daemon: ${r.stdout}`);
    assertStringIncludes(`${r.stdout}${r.stderr}`, missing);
    // ctr leaves the container record when its task failed to create.
    await c.ctr("container", "rm", id);
    ctx.step("no leaks");
    await c.assertNoLeaks(id);
    assertEquals(await processesNamed("qemu"), [], "QEMU left after the failed create");
    assertEquals(await processesNamed("virtiofsd"), [], "virtiofsd left after the failed create");
  } finally {
    await c.stop();
    await Deno.remove(cfgDir, { recursive: true });
  }
});
