import { assert, assertEquals } from "../tests/assert.ts";
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
