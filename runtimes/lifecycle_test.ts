import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import { FailedPreconditionError, NotFoundError } from "../common/errors.ts";
import { Lifecycle, type ProcessState } from "./lifecycle.ts";

Deno.test("lifecycle: the normal path created → running → paused → running → stopped → deleted", () => {
  const p = new Lifecycle('container "c1"');
  const path: ProcessState[] = ["running", "paused", "running", "stopped", "deleted"];
  for (const s of path) {
    p.moveTo(s);
    assertEquals(p.state, s);
  }
});

Deno.test("lifecycle: a created process may stop or be deleted without running", () => {
  const a = new Lifecycle("a");
  a.moveTo("stopped");
  assertEquals(a.state, "stopped");
  const b = new Lifecycle("b");
  b.moveTo("deleted");
  assertEquals(b.state, "deleted");
});

Deno.test("lifecycle: illegal moves are refused and name the process and states", () => {
  const p = new Lifecycle('container "c1"');
  p.moveTo("running");
  const e = assertThrows(() => p.moveTo("deleted"), FailedPreconditionError);
  assertEquals(e.message, 'Invalid state transition of container "c1" from running to deleted');
  assertEquals(p.state, "running");
  p.moveTo("stopped");
  assertThrows(() => p.moveTo("running"), FailedPreconditionError);
  p.moveTo("deleted");
  for (const s of ["created", "running", "paused", "stopped"] as const) {
    assertThrows(() => p.moveTo(s), FailedPreconditionError);
  }
});

Deno.test("lifecycle: operations are allowed only in their states", () => {
  const p = new Lifecycle('container "c1"');
  p.require("start");
  const e1 = assertThrows(() => p.require("pause"), FailedPreconditionError);
  assertEquals(e1.message, 'Cannot pause container "c1": it is created');
  p.moveTo("running");
  assertThrows(() => p.require("start"), FailedPreconditionError);
  const e2 = assertThrows(() => p.require("delete"), FailedPreconditionError);
  assertEquals(e2.message, 'Cannot delete container "c1": it is running');
  p.require("exec");
  p.require("kill");
  p.moveTo("paused");
  assertThrows(() => p.require("exec"), FailedPreconditionError);
  p.require("resume");
  p.moveTo("stopped");
  const e3 = assertThrows(() => p.require("kill"), NotFoundError);
  assert(e3.message.includes("already finished"));
  p.require("delete");
  p.moveTo("deleted");
  const e4 = assertThrows(() => p.require("closeIo"), NotFoundError);
  assertEquals(e4.message, 'container "c1" was deleted');
});
