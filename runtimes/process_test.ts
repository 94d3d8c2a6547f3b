import { assert, assertEquals, assertRejects, assertThrows } from "../tests/assert.ts";
import { FailedPreconditionError, NotFoundError } from "../common/errors.ts";
import { stdioOf, TaskProcess } from "./process.ts";

const noIo = { drained: () => Promise.resolve(), close: () => {} };
const stdio = { stdin: "", stdout: "/tmp/o", stderr: "", terminal: false };

Deno.test("TaskProcess names the init and an exec in its lifecycle", () => {
  assertEquals(new TaskProcess<typeof noIo>("c1", "", stdio).lifecycle.what, 'container "c1"');
  assertEquals(
    new TaskProcess<typeof noIo>("c1", "e1", stdio).lifecycle.what,
    'exec "e1" of container "c1"',
  );
});

Deno.test("TaskProcess records the first exit only, moves to stopped and wakes waiters", async () => {
  const p = new TaskProcess<typeof noIo>("c1", "", stdio);
  p.lifecycle.moveTo("running");
  const waited = p.wait();
  const first = { pid: 7, exitStatus: 3, exitedAt: new Date(1000) };
  assert(!p.exited);
  assertEquals(p.setExited(first), true);
  assertEquals(p.setExited({ pid: 7, exitStatus: 255, exitedAt: new Date(2000) }), false);
  assert(p.exited);
  assertEquals(p.exit, first);
  assertEquals(p.lifecycle.state, "stopped");
  assertEquals(await waited, first);
  assertEquals(p.exitOrNone(), first);
});

Deno.test("TaskProcess.exitOrNone is a zero status with the pid before any exit", () => {
  const p = new TaskProcess<typeof noIo>("c1", "e1", stdio);
  p.pid = 42;
  const e = p.exitOrNone();
  assertEquals([e.pid, e.exitStatus], [42, 0]);
});

Deno.test("stdioOf keeps only the stdio fields of a request", () => {
  assertEquals(stdioOf({ ...stdio, id: "c1", bundle: "/b" } as typeof stdio), stdio);
});

Deno.test("TaskProcess.requireSignal: an exec must have started, a finished process is gone", () => {
  const init = new TaskProcess<typeof noIo>("c1", "", stdio);
  init.requireSignal(); // a created init may be killed (its runtime process waits)
  const e = new TaskProcess<typeof noIo>("c1", "e1", stdio);
  assertThrows(
    () => e.requireSignal(),
    FailedPreconditionError,
    'Cannot signal exec "e1" of container "c1": it was not started',
  );
  e.lifecycle.moveTo("running");
  e.requireSignal();
  e.setExited({ pid: 1, exitStatus: 0, exitedAt: new Date() });
  assertThrows(() => e.requireSignal(), NotFoundError, "already finished");
});

Deno.test("TaskProcess.requireResize needs a terminal and a live process", () => {
  assertThrows(
    () => new TaskProcess<typeof noIo>("c1", "e1", stdio).requireResize(),
    FailedPreconditionError,
    'Cannot resize the terminal of exec "e1" of container "c1": it has no terminal',
  );
  const t = new TaskProcess<typeof noIo>("c1", "", { ...stdio, terminal: true });
  t.requireResize();
  t.setExited({ pid: 1, exitStatus: 0, exitedAt: new Date() });
  assertThrows(() => t.requireResize(), FailedPreconditionError, "it is stopped");
});

Deno.test("TaskProcess.starting holds `started` until the start settled, success or not", async () => {
  const p = new TaskProcess<typeof noIo>("c1", "", stdio);
  const order: string[] = [];
  const gate = Promise.withResolvers<void>();
  const run = p.starting(async () => {
    await gate.promise;
    order.push("start event");
    return 7;
  });
  const waiter = p.started.then(() => order.push("exit may follow"));
  gate.resolve();
  assertEquals(await run, 7);
  await waiter;
  assertEquals(order, ["start event", "exit may follow"]);
  await assertRejects(() => p.starting(() => Promise.reject(new Error("runc start failed"))));
  await p.started; // released after a failed start too
});
