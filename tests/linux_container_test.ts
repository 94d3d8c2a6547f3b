/**
 * The LinuxContainer runtime handler against the real runc, without
 * containerd: lifecycle, exec, events in order, refusals, clean-up.
 */
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { AlreadyExistsError, FailedPreconditionError, NotFoundError } from "../common/errors.ts";
import { setChildSubreaper } from "../ffi/process.ts";
import { LinuxContainerHandler } from "../runtimes/linux_container/handler.ts";
import type { TaskEvent } from "../runtimes/events.ts";
import { busyboxBundle } from "./busybox_bundle.ts";
import { testsNeeding } from "./tier.ts";

const test = testsNeeding({ root: true, peers: ["runc"] });

test({
  name: "linux container: lifecycle through runc with exec, pause, stats, kill and delete",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    setChildSubreaper(true);
    const dir = await Deno.makeTempDir({ prefix: "rts-lc-" });
    const id = `lc-${dir.slice(-6)}`;
    const events: TaskEvent[] = [];
    const handler = new LinuxContainerHandler({
      stateRoot: `${dir}/state`,
      events: (e) => events.push(e),
    });
    try {
      const bundle = await busyboxBundle(dir, ["sleep", "1000"]);
      const io = { stdin: "", stdout: "", stderr: "", terminal: false };
      const pid = await handler.createContainer({ id, bundle, rootfs: [], ...io });
      assert(pid > 0);
      assertEquals((await handler.state(id, "")).state, "created");
      await assertRejects(
        () => handler.createContainer({ id, bundle, rootfs: [], ...io }),
        AlreadyExistsError,
      );
      await assertRejects(() => handler.pause(id), FailedPreconditionError);
      assertEquals(await handler.start(id, ""), pid);
      assertEquals((await handler.state(id, "")).state, "running");
      await assertRejects(() => handler.delete(id, ""), FailedPreconditionError);
      await assertRejects(() => handler.resizePty(id, "", 80, 24), FailedPreconditionError);

      const out = `${dir}/exec.out`;
      await handler.exec({
        containerId: id,
        execId: "e1",
        stdin: "",
        stdout: `file://${out}`,
        stderr: "",
        terminal: false,
        process: { args: ["sh", "-c", "echo from-exec; exit 6"], cwd: "/", env: ["PATH=/bin"] },
      });
      const epid = await handler.start(id, "e1");
      const eexit = await handler.wait(id, "e1");
      assertEquals([eexit.pid, eexit.exitStatus], [epid, 6]);
      assertEquals(await Deno.readTextFile(out), "from-exec\n");
      await handler.delete(id, "e1");
      await assertRejects(() => handler.state(id, "e1"), NotFoundError);

      const pids = await handler.pids(id);
      assert(pids.some((p) => p.pid === pid), JSON.stringify(pids));
      await handler.pause(id);
      assertEquals((await handler.state(id, "")).state, "paused");
      await handler.resume(id);
      await handler.update(id, { pids: { limit: 100 } });
      const stats = await handler.stats(id);
      assert("pids" in stats.metrics, JSON.stringify(Object.keys(stats.metrics)));

      await handler.kill(id, "", 9, true);
      const exit = await handler.wait(id, "");
      assertEquals(exit.exitStatus, 137);
      assertEquals((await handler.state(id, "")).state, "stopped");
      await assertRejects(() => handler.kill(id, "", 9, false), NotFoundError);
      await handler.delete(id, "");
      await assertRejects(() => handler.state(id, ""), NotFoundError);
      assertEquals(handler.containerIds(), []);
      await assertRejects(() => Deno.stat(`${dir}/state/${id}`), Deno.errors.NotFound);
      assertEquals(
        events.map((e) => e.topic),
        [
          "/tasks/create",
          "/tasks/start",
          "/tasks/exec-added",
          "/tasks/exec-started",
          "/tasks/exit",
          "/tasks/paused",
          "/tasks/resumed",
          "/tasks/exit",
          "/tasks/delete",
        ],
      );
    } finally {
      await handler.shutdown();
      setChildSubreaper(false);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

test({
  name: "linux container: an OOM kill is published as /tasks/oom",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    setChildSubreaper(true);
    const dir = await Deno.makeTempDir({ prefix: "rts-oom-" });
    const id = `oom-${dir.slice(-6)}`;
    const events: TaskEvent[] = [];
    const handler = new LinuxContainerHandler({
      stateRoot: `${dir}/state`,
      events: (e) => events.push(e),
    });
    try {
      // tail keeps the whole endless "line" of /dev/zero in memory.
      const bundle = await busyboxBundle(dir, ["tail", "/dev/zero"], {
        memoryLimit: 16 * 1024 * 1024,
      });
      const io = { stdin: "", stdout: "", stderr: "", terminal: false };
      await handler.createContainer({ id, bundle, rootfs: [], ...io });
      await handler.start(id, "");
      const exit = await handler.wait(id, "");
      assertEquals(exit.exitStatus, 137);
      for (let i = 0; i < 40 && !events.some((e) => e.topic === "/tasks/oom"); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert(
        events.some((e) => e.topic === "/tasks/oom"),
        JSON.stringify(events.map((e) => e.topic)),
      );
      await handler.delete(id, "");
    } finally {
      await handler.shutdown();
      setChildSubreaper(false);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

test({
  name: "linux container: a failed create (terminal or not) leaves nothing behind",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    setChildSubreaper(true);
    const dir = await Deno.makeTempDir({ prefix: "rts-fail-" });
    const handler = new LinuxContainerHandler({ stateRoot: `${dir}/state` });
    try {
      for (const terminal of [false, true]) {
        const bundle = await busyboxBundle(`${dir}/${terminal}`, ["sh"], { terminal });
        await Deno.remove(`${bundle}/rootfs`, { recursive: true });
        const id = `fail-${terminal}-${dir.slice(-6)}`;
        const err = await assertRejects(() =>
          handler.createContainer({
            id,
            bundle,
            rootfs: [],
            stdin: "",
            stdout: "",
            stderr: "",
            terminal,
          })
        );
        assert(err.message.includes(`Cannot create container "${id}"`), err.message);
        assertEquals(handler.containerIds(), []);
        const left = await Deno.stat(`${dir}/state/${id}`).then(() => true, () => false);
        assert(!left, `state of ${id} left`);
      }
    } finally {
      await handler.shutdown();
      setChildSubreaper(false);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
