/**
 * End to end under a private real containerd, each of 1.6, 1.7 and 2.1: `ctr` drives our shim
 * (LinuxContainer runtime through runc) and every step ends with a leak
 * check. Needs root, containerd, runc and umoci (scripts/install-deps).
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { Containerd, IMAGE, LINUX_CONTAINER_CONFIG, run, shimProcesses } from "./harness.ts";
import { testsNeeding } from "../tier.ts";
import { CONTAINERD_VERSIONS, containerdNeeds, type ContainerdVersion } from "./versions.ts";

async function taskStatus(c: Containerd, id: string): Promise<string> {
  const out = await c.ctrMust("task", "ls");
  const line = out.split("\n").find((l) => l.split(/\s+/)[0] === id);
  return line?.trim().split(/\s+/)[2] ?? "";
}

async function waitStatus(c: Containerd, id: string, want: string): Promise<void> {
  let last = "";
  for (let i = 0; i < 200; i++) {
    last = await taskStatus(c, id);
    if (last === want) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`task ${id} is ${last || "gone"}, expected ${want || "gone"}`);
}

async function removeTask(c: Containerd, id: string): Promise<void> {
  await c.ctrMust("task", "rm", id);
  await c.ctrMust("container", "rm", id);
}

for (const version of CONTAINERD_VERSIONS) e2e(version);

function e2e(version: ContainerdVersion): void {
  testsNeeding(containerdNeeds(version))({
    name: `containerd ${version} e2e: our shim runs containers through runc`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn(t) {
      const c = await Containerd.start({ version });
      try {
        await t.step("ctr run prints output and propagates the exit code", async () => {
          const r = await c.ctr(
            ...c.runArgs(),
            "--rm",
            IMAGE,
            "e2e-run",
            "sh",
            "-c",
            "echo hi; echo oops >&2; exit 7",
          );
          assertEquals(r.code, 7, r.stderr);
          assertEquals(r.stdout, "hi\n");
          assertStringIncludes(r.stderr, "oops");
          // The shim logs through the bundle's log FIFO into containerd's log.
          assertStringIncludes(await c.log(), 'component=shim msg="serving');
          await c.assertNoLeaks("e2e-run");
        });

        await t.step("stdin reaches the container and its end closes it", async () => {
          const r = await run(c.ctrBin, [
            "-a",
            c.address,
            ...c.runArgs(),
            "--rm",
            IMAGE,
            "e2e-stdin",
            "sh",
            "-c",
            "cat; echo done",
          ], "line one\nline two\n");
          assertEquals(r.code, 0, r.stderr);
          assertEquals(r.stdout, "line one\nline two\ndone\n");
          await c.assertNoLeaks("e2e-stdin");
        });

        await t.step("detached: exec, ps, pause/resume, metrics, kill, rm", async () => {
          const id = "e2e-detached";
          await c.ctrMust(...c.runArgs(), "-d", IMAGE, id, "sleep", "1000");
          await waitStatus(c, id, "RUNNING");
          const ex = await c.ctr(
            "task",
            "exec",
            "--exec-id",
            "x1",
            id,
            "sh",
            "-c",
            "echo from-exec; exit 4",
          );
          assertEquals(ex.code, 4, ex.stderr);
          assertEquals(ex.stdout, "from-exec\n");
          const ps = await c.ctrMust("task", "ps", id);
          assert(ps.trim().split("\n").length >= 2, ps);
          await c.ctrMust("task", "pause", id);
          await waitStatus(c, id, "PAUSED");
          await c.ctrMust("task", "resume", id);
          await waitStatus(c, id, "RUNNING");
          const metrics = await c.ctrMust("task", "metrics", id);
          assertStringIncludes(metrics, "pids.current");
          await c.ctrMust("task", "kill", "-s", "SIGKILL", id);
          await waitStatus(c, id, "STOPPED");
          await removeTask(c, id);
          await c.assertNoLeaks(id);
        });

        await t.step("a tty run and a tty exec (64-character ids) get a terminal", async () => {
          // script(1) gives ctr the terminal it needs for -t; its -c is a shell line.
          const ctr = `${c.ctrBin} -a ${c.address}`;
          const id = "e2e-tty";
          const runLine = `${ctr} ${
            c.runArgs().join(" ")
          } --rm -t ${IMAGE} ${id} sh -c 'tty; exit 5'`;
          const r = await run("script", ["-qec", runLine, "/dev/null"]);
          assertEquals(r.code, 5, r.stdout + r.stderr);
          assertStringIncludes(r.stdout, "/dev/pts/");
          await c.assertNoLeaks(id);

          // CRI-sized ids (64 characters each): the console socket path must still fit.
          const did = `e2e-tty-exec-${"c".repeat(51)}`;
          const execId = "e".repeat(64);
          await c.ctrMust(...c.runArgs(), "-d", IMAGE, did, "sleep", "1000");
          await waitStatus(c, did, "RUNNING");
          const execLine = `${ctr} task exec -t --exec-id ${execId} ${did} sh -c 'tty; exit 6'`;
          const e = await run("script", ["-qec", execLine, "/dev/null"]);
          assertEquals(e.code, 6, e.stdout + e.stderr);
          assertStringIncludes(e.stdout, "/dev/pts/");
          await c.ctrMust("task", "kill", "-s", "SIGKILL", did);
          await waitStatus(c, did, "STOPPED");
          await removeTask(c, did);
          await c.assertNoLeaks(did);
        });

        await t.step("a pod's containers share the sandbox's shim", async () => {
          const sb = "e2e-pod-sandbox";
          const member = "e2e-pod-member";
          const sandboxType = "io.kubernetes.cri.container-type=sandbox";
          await c.ctrMust(
            ...c.runArgs(),
            "-d",
            "--annotation",
            sandboxType,
            IMAGE,
            sb,
            "sleep",
            "1000",
          );
          await waitStatus(c, sb, "RUNNING");
          await c.ctrMust(
            ...c.runArgs(),
            "-d",
            "--annotation",
            "io.kubernetes.cri.container-type=container",
            "--annotation",
            `io.kubernetes.cri.sandbox-id=${sb}`,
            IMAGE,
            member,
            "sleep",
            "1000",
          );
          await waitStatus(c, member, "RUNNING");
          const address = await Deno.readTextFile(`${c.bundle(sb)}/address`);
          assertEquals(await Deno.readTextFile(`${c.bundle(member)}/address`), address);
          assertEquals((await shimProcesses(sb)).length, 1);
          assertEquals((await shimProcesses(member)).length, 0);
          const ex = await c.ctr("task", "exec", "--exec-id", "p1", member, "echo", "in-member");
          assertEquals(ex.stdout, "in-member\n", ex.stderr);
          // The member goes first: the shim must stay for the sandbox.
          await c.ctrMust("task", "kill", "-s", "SIGKILL", member);
          await waitStatus(c, member, "STOPPED");
          await removeTask(c, member);
          assertEquals((await shimProcesses(sb)).length, 1);
          await waitStatus(c, sb, "RUNNING");
          await c.ctrMust("task", "kill", "-s", "SIGKILL", sb);
          await waitStatus(c, sb, "STOPPED");
          await removeTask(c, sb);
          await c.assertNoLeaks(member);
          await c.assertNoLeaks(sb);
        });

        await t.step(
          "containerd restarts while a container runs; the exit still arrives",
          async () => {
            const id = "e2e-restart";
            await c.ctrMust(...c.runArgs(), "-d", IMAGE, id, "sleep", "1000");
            await waitStatus(c, id, "RUNNING");
            await c.restartDaemon();
            await waitStatus(c, id, "RUNNING");
            await c.ctrMust("task", "kill", "-s", "SIGKILL", id);
            await waitStatus(c, id, "STOPPED");
            await removeTask(c, id);
            await c.assertNoLeaks(id);
          },
        );

        await t.step(
          "the container exits while containerd is down; the restarted one sees it",
          async () => {
            const id = "e2e-exit-while-down";
            await c.ctrMust(...c.runArgs(), "-d", IMAGE, id, "sleep", "1000");
            await waitStatus(c, id, "RUNNING");
            const line = (await c.ctrMust("task", "ls")).split("\n").find((l) => l.startsWith(id));
            const pid = Number(line?.trim().split(/\s+/)[1]);
            assert(pid > 0, `no pid for ${id}`);
            await c.stopDaemon();
            Deno.kill(pid, "SIGKILL");
            await new Promise((r) => setTimeout(r, 300));
            await c.restartDaemon();
            if (version === "1.6") {
              await waitStatus(c, id, "STOPPED");
              await removeTask(c, id);
            } else {
              // From 1.7 on, containerd asks a reloaded shim for its task's pids
              // and ends a shim with none as leaked, dropping the task (the runc
              // shim's task goes the same way, checked by hand on 1.7.24).
              await waitStatus(c, id, "");
              await c.ctrMust("container", "rm", id);
            }
            // ctr's own FIFO dirs stay where containerd dropped the task under it.
            await c.assertNoLeaks(id, { clientFifos: version !== "1.6" });
          },
        );

        await t.step("crun selected in the configuration runs the container", async () => {
          const config = `${c.dir}/configuration-crun.toml`;
          const base = await Deno.readTextFile(LINUX_CONTAINER_CONFIG);
          await Deno.writeTextFile(
            config,
            base.replace(/^oci_runtime = .*$/m, 'oci_runtime = "crun"')
              .replace(/^oci_runtime_root = .*$/m, `oci_runtime_root = "${c.dir}/crun"`),
          );
          const id = "e2e-crun";
          const args = ["run", "--runtime", c.shim, "--runtime-config-path", config];
          const r = await c.ctr(...args, "--rm", IMAGE, id, "sh", "-c", "echo via-crun; exit 2");
          if (
            r.stderr.includes("cgroups in hybrid mode not supported") ||
            r.stderr.includes("unknown version specified")
          ) {
            // crun refuses hosts with cgroup v1 plus a unified hierarchy (this test machine),
            // and Debian 12's crun 1.8 refuses the newer OCI spec version of containerd 1.7+:
            // it was crun that ran, and the failed create must leave nothing behind.
            assertStringIncludes(r.stderr, "crun");
            await c.ctr("container", "rm", id);
          } else {
            assertEquals(r.code, 2, r.stderr);
            assertEquals(r.stdout, "via-crun\n");
          }
          // ctr 1.7+ leaves the FIFO dir of a run whose create failed.
          await c.assertNoLeaks(id, { clientFifos: version !== "1.6" });

          const missing = `${c.dir}/configuration-missing.toml`;
          await Deno.writeTextFile(
            missing,
            base.replace(/^oci_runtime = .*$/m, 'oci_runtime = "no-such-oci-runtime"'),
          );
          const bad = await c.ctr(
            "run",
            "--runtime",
            c.shim,
            "--runtime-config-path",
            missing,
            "--rm",
            IMAGE,
            "e2e-missing",
            "true",
          );
          assert(bad.code !== 0, "a missing OCI runtime must fail");
          assertStringIncludes(bad.stderr, "no-such-oci-runtime");
          await c.ctr("container", "rm", "e2e-missing");
          await c.assertNoLeaks("e2e-missing", { clientFifos: version !== "1.6" });
        });

        await t.step("the shim killed with SIGKILL: containerd's delete cleans up", async () => {
          const id = "e2e-shimkill";
          await c.ctrMust(...c.runArgs(), "-d", IMAGE, id, "sleep", "1000");
          await waitStatus(c, id, "RUNNING");
          const pid = Number((await Deno.readTextFile(`${c.bundle(id)}/shim.pid`)).trim());
          Deno.kill(pid, "SIGKILL");
          // containerd notices the lost shim, runs `<shim> delete` and drops the task.
          await waitStatus(c, id, "");
          await c.ctrMust("container", "rm", id);
          await c.assertNoLeaks(id, { clientFifos: true });
        });
      } finally {
        await c.stop();
      }
    },
  });
}
