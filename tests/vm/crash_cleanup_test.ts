/**
 * VM group, crash safety through real containerd (issue 11), for the
 * built-in VMM and for QEMU: a container runs with a host directory
 * bind-mounted (`ctr run --mount type=bind,...,options=rbind:rw`) holding
 * marker files and a nested directory; its shim is SIGKILLed; containerd's
 * own clean-up runs `shim delete`. Afterwards the markers are intact, no VMM
 * process and no mount under /run/kata is left, /run/kata/<id> is gone, and
 * a new container from the same image runs. On QEMU that new container then
 * loses its VMM (SIGKILL): every task gets its exit event with status 255
 * within 5 s, containerd deletes them, and the sandbox is cleaned up.
 *
 * Needs /dev/kvm: scripts/test-vm runs it inside scripts/testhost where this
 * machine has none.
 */
import { assert, assertEquals } from "../assert.ts";
import { Containerd, IMAGE, shimProcesses } from "../containerd/harness.ts";
import { configWithBuiltGuest, SLOW_VM_CONTAINERD, vmmPids } from "./guest_config.ts";
import { killClients, until, vmTest, type VmTestContext } from "./deadline.ts";
import { needs } from "../tier.ts";

/** Debian's C virtiofsd (the shipped config names upstream's path). */
const VIRTIOFSD = "/usr/lib/qemu/virtiofsd";
const NO_KVM = needs({ paths: ["/dev/kvm"] }).ignore;

/**
 * The slow-VM containerd options plus room for containerd's own clean-up of
 * a dead shim: it runs `shim delete` under `io.containerd.timeout.shim.cleanup`
 * (5 s by default) and kills it past that; under nested emulation Deno alone
 * starts in seconds (measured: killed after 6 s, before it had done anything).
 */
const CRASH_CONTAINERD = {
  extraConfig: [
    ...SLOW_VM_CONTAINERD.extraConfig,
    '  "io.containerd.timeout.shim.cleanup" = "120s"',
  ],
};

/** A host directory with marker files and a nested directory. */
async function dataDir(): Promise<string> {
  const d = await Deno.makeTempDir({ prefix: "rts-crash-data-" });
  await Deno.writeTextFile(`${d}/marker`, "precious");
  await Deno.mkdir(`${d}/nested/deeper`, { recursive: true });
  await Deno.writeTextFile(`${d}/nested/deeper/marker2`, "also precious");
  return d;
}

async function assertMarkers(d: string): Promise<void> {
  assertEquals(await Deno.readTextFile(`${d}/marker`), "precious", "marker lost");
  assertEquals(
    await Deno.readTextFile(`${d}/nested/deeper/marker2`),
    "also precious",
    "nested marker lost",
  );
}

async function kataMounts(): Promise<string[]> {
  return (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
    .filter((l) => l.includes("/run/kata/"));
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/** Everything of sandbox `id` is gone from the host: VMM, mounts, /run/kata/<id>. */
async function assertSandboxGone(id: string, known: number[]): Promise<void> {
  assertEquals(await shimProcesses(id), [], "shim (built-in VMM) process left");
  const live = (await vmmPids()).filter((p) => known.includes(p));
  assertEquals(live, [], "VMM or virtiofsd process left");
  assertEquals(await kataMounts(), [], "mounts under /run/kata left");
  assert(!(await exists(`/run/kata/${id}`)), `/run/kata/${id} left`);
}

/** Waits until containerd no longer lists task `id` as running (removed or STOPPED). */
async function taskEnded(c: Containerd, id: string): Promise<string> {
  const ls = await c.ctr("task", "ls");
  const line = ls.stdout.split("\n").find((l) => l.split(/\s+/)[0] === id);
  return line === undefined ? "removed" : /STOPPED/.test(line) ? "stopped" : "";
}

async function crashScenario(ctx: VmTestContext, hv: "dragonball" | "qemu"): Promise<void> {
  const cfgDir = await Deno.makeTempDir({ prefix: "rts-crash-cfg-" });
  const data = await dataDir();
  ctx.step("containerd to start");
  const c = await Containerd.start(CRASH_CONTAINERD);
  ctx.evidence("containerd log (with the shim's and the guest console's lines)", () => c.log());
  ctx.onDeadline(() => killClients("ctr", c.address));
  const id = `crash-${hv}`;
  try {
    const config = await configWithBuiltGuest(
      hv,
      cfgDir,
      hv === "dragonball" ? ['kernel_params = ""'] : [
        // virtio-fs with Debian's daemon: a file server the crash leaves behind too.
        `virtio_fs_daemon = "${VIRTIOFSD}"`,
        `valid_virtio_fs_daemon_paths = ["${VIRTIOFSD}"]`,
      ],
    );
    const run = (flags: string[], cid: string, ...cmd: string[]) =>
      c.ctr(
        "run",
        ...flags,
        "--runtime",
        c.shim,
        "--runtime-config-path",
        config,
        IMAGE,
        cid,
        ...cmd,
      );

    ctx.step(`\`ctr run -d ${id}\` with ${data} bind-mounted at /data to start (VM boot)`);
    const r = await run(
      ["-d", "--mount", `type=bind,src=${data},dst=/data,options=rbind:rw`],
      id,
      "sleep",
      "600",
    );
    assertEquals(r.code, 0, `ctr run -d failed: ${r.stdout}${r.stderr}`);
    ctx.step(`\`ctr task exec\` in ${id} reading /data/nested/deeper/marker2 to end`);
    const e = await c.ctr(
      "task",
      "exec",
      "--exec-id",
      "m1",
      id,
      "cat",
      "/data/nested/deeper/marker2",
    );
    assertEquals(e.code, 0, `exec failed: ${e.stdout}${e.stderr}`);
    assertEquals(e.stdout.trim(), "also precious", "the guest does not see the host dir");
    const sandboxMounts = await kataMounts();
    assert(sandboxMounts.length > 0, "no mount under /run/kata while the container runs");
    const vmm = hv === "qemu" ? await vmmPids() : [];
    if (hv === "qemu") assert(vmm.length > 0, "no QEMU process while the container runs");
    const shims = await shimProcesses(id);
    assertEquals(shims.length, 1, `shim processes of ${id}: ${shims.join(", ")}`);

    ctx.step(`containerd's clean-up (shim delete) after SIGKILL of shim ${shims[0]}`);
    Deno.kill(Number(shims[0]), "SIGKILL");
    await until(
      `task ${id} to end in containerd and /run/kata/${id} to go`,
      async () => (await taskEnded(c, id)) && !(await exists(`/run/kata/${id}`)) || undefined,
      ctx.signal,
      500,
    );
    if ((await taskEnded(c, id)) === "stopped") await c.ctrMust("task", "rm", "-f", id);
    await c.ctrMust("container", "rm", id);
    ctx.step(`the VMM of ${id} to be gone`);
    await until(
      "no VMM process of the crashed sandbox",
      async () => (await vmmPids()).some((p) => vmm.includes(p)) ? undefined : true,
      ctx.signal,
    );
    await assertMarkers(data);
    await assertSandboxGone(id, vmm);

    if (hv === "dragonball") {
      ctx.step("`ctr run --rm crash-after` (a new VM from the same image) to end");
      const after = await run(["--rm"], "crash-after", "echo", "runs-after-crash");
      assertEquals(after.code, 0, `ctr run after the crash failed: ${after.stdout}${after.stderr}`);
      assertEquals(after.stdout.trim(), "runs-after-crash");
      // The crashed task's ctr FIFO dir stays (containerd dropped the task): allowed once unheld.
      await c.assertNoLeaks("crash-after", { clientFifos: true });
    } else {
      await vmmDeath(ctx, c, run);
    }
    await assertMarkers(data);
  } catch (e) {
    // The shim's and the guest console's lines say why (the deadline shows them only on a hang).
    console.error((await c.log().catch(() => "")).slice(-12000));
    throw e;
  } finally {
    ctx.step("containerd's clean-up");
    await c.stop();
    await Deno.remove(cfgDir, { recursive: true });
    await Deno.remove(data, { recursive: true });
  }
}

/**
 * A new container runs (the same image, after the crash); then its QEMU is
 * SIGKILLed: the init and a detached exec get their exit events with status
 * 255 within 5 s (plus the time one `ctr events` line takes to arrive here,
 * measured), containerd deletes the task, the sandbox is cleaned up.
 */
async function vmmDeath(
  ctx: VmTestContext,
  c: Containerd,
  run: (flags: string[], cid: string, ...cmd: string[]) => ReturnType<Containerd["ctr"]>,
): Promise<void> {
  const id = "vmm-death";
  ctx.step(`\`ctr run -d ${id}\` (a new VM from the same image after the crash) to start`);
  const r = await run(["-d"], id, "sleep", "600");
  assertEquals(r.code, 0, `ctr run -d after the crash failed: ${r.stdout}${r.stderr}`);
  ctx.step(`\`ctr task exec --detach x1\` in ${id} to start`);
  const x = await c.ctr("task", "exec", "--detach", "--exec-id", "x1", id, "sleep", "600");
  assertEquals(x.code, 0, `exec --detach failed: ${x.stdout}${x.stderr}`);
  const vmm = await vmmPids();
  const comms = await Promise.all(vmm.map((p) => Deno.readTextFile(`/proc/${p}/comm`)));
  const qemu = vmm.filter((_, i) => comms[i].startsWith("qemu"));
  assertEquals(qemu.length, 1, `QEMU processes: ${qemu.join(", ")}`);

  const events = new Deno.Command("ctr", {
    args: ["-a", c.address, "events"],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines: { at: number; line: string }[] = [];
  const reading = (async () => {
    let rest = "";
    for await (const chunk of events.stdout.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const line of parts) lines.push({ at: performance.now(), line });
    }
  })();
  ctx.evidence("ctr events", () => lines.map((l) => l.line).join("\n"));
  try {
    // Let the subscription settle before the kill.
    await new Promise((res) => setTimeout(res, 3000));
    ctx.step(`exit events (status 255) of ${id} and x1 after SIGKILL of QEMU ${qemu[0]}`);
    const killedAt = performance.now();
    Deno.kill(qemu[0], "SIGKILL");
    const exitOf = (execId: string) =>
      lines.find((l) =>
        l.line.includes("/tasks/exit") && l.line.includes(`"container_id":"${id}"`) &&
        l.line.includes(`"id":"${execId}"`)
      );
    await until(
      "both exit events",
      () => exitOf(id) && exitOf("x1") ? true : undefined,
      ctx.signal,
      50,
    );
    for (const execId of [id, "x1"]) {
      const ev = exitOf(execId)!;
      assert(ev.line.includes('"exit_status":255'), `exit status of ${execId}: ${ev.line}`);
      const ms = Math.round(ev.at - killedAt);
      console.log(`exit event of ${execId} ${ms} ms after QEMU's SIGKILL`);
      // 5 s is the issue's bound; ctr events' own delivery under nested emulation is added.
      assert(ms <= 7000, `exit event of ${execId} came ${ms} ms after the VMM died`);
    }
  } finally {
    events.kill("SIGKILL");
    await events.status;
    await reading.catch(() => {});
  }
  ctx.step(`containerd to delete ${id} after its VM died`);
  await c.ctrMust("task", "rm", id);
  await c.ctrMust("container", "rm", id);
  ctx.step(`the sandbox of ${id} to be cleaned up`);
  await until(
    `/run/kata/${id} to go and its shim to exit`,
    async () =>
      !(await exists(`/run/kata/${id}`)) && (await shimProcesses(id)).length === 0 || undefined,
    ctx.signal,
  );
  await assertSandboxGone(id, vmm);
  await c.assertNoLeaks(id, { clientFifos: true });
}

vmTest({
  name: "built-in VMM: a SIGKILLed shim's sandbox is cleaned by containerd's shim delete; " +
    "bind-mounted host files survive; a new container runs",
  ignore: NO_KVM,
  deadlineMs: 420_000,
}, (ctx) => crashScenario(ctx, "dragonball"));

vmTest({
  name: "QEMU: a SIGKILLed shim's sandbox is cleaned by containerd's shim delete; " +
    "bind-mounted host files survive; a new container runs, and its VMM's death ends its tasks (255)",
  ignore: NO_KVM,
  deadlineMs: 540_000,
}, (ctx) => crashScenario(ctx, "qemu"));
