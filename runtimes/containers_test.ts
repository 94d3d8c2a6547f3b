import { assertEquals, assertRejects, assertThrows } from "../tests/assert.ts";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from "../common/errors.ts";
import {
  ContainerTable,
  createEvent,
  deleteEvent,
  exitEvent,
  type TaskContainer,
} from "./containers.ts";
import type { ExecRequest } from "./handler.ts";
import { TaskProcess } from "./process.ts";

type Io = { drained(): Promise<void>; close(): void; closed: boolean };
type P = TaskProcess<Io>;
const stdio = { stdin: "", stdout: "/tmp/o", stderr: "", terminal: false };

function table(): { t: ContainerTable<Io, TaskContainer<P>>; c: TaskContainer<P> } {
  const t = new ContainerTable<Io, TaskContainer<P>>();
  const c = {
    id: "c1",
    bundle: "/b",
    init: new TaskProcess<Io>("c1", "", stdio),
    execs: new Map(),
  };
  t.add(c);
  return { t, c };
}

function exec(execId: string, containerId = "c1"): ExecRequest {
  return { containerId, execId, process: { args: ["sh"] }, ...stdio };
}

Deno.test("ContainerTable finds containers and processes, or says which does not exist", () => {
  const { t, c } = table();
  assertEquals(t.get("c1"), c);
  assertEquals(t.process("c1", ""), c.init);
  assertThrows(() => t.get("c2"), NotFoundError, 'Container "c2" does not exist');
  assertThrows(() => t.process("c1", "e1"), NotFoundError, 'Exec "e1" of container "c1"');
  assertEquals(t.taskPid("c2"), 0);
  assertEquals(t.ids(), ["c1"]);
  t.remove("c1");
  assertEquals([t.has("c1"), t.ids()], [false, []]);
});

Deno.test("ContainerTable.checkNew refuses an empty or taken id", () => {
  const { t } = table();
  assertThrows(() => t.checkNew(""), InvalidArgumentError, "without an id");
  assertThrows(() => t.checkNew("c1"), AlreadyExistsError, 'Container "c1" exists already');
  t.checkNew("c2");
});

Deno.test("ContainerTable.addExec checks the request and the init's state", () => {
  const { t, c } = table();
  assertThrows(() => t.addExec(exec("e1", "c9")), NotFoundError);
  assertThrows(() => t.addExec(exec("")), InvalidArgumentError, "exec id");
  // The init is only created: no exec yet.
  assertThrows(() => t.addExec(exec("e1")), Error, "Cannot exec in");
  c.init.lifecycle.moveTo("running");
  assertEquals(t.addExec(exec("e1")), {
    topic: "/tasks/exec-added",
    containerId: "c1",
    execId: "e1",
  });
  const e = t.process("c1", "e1");
  assertEquals([e.spec, e.stdio, e.lifecycle.state], [{ args: ["sh"] }, stdio, "created"]);
  assertThrows(() => t.addExec(exec("e1")), AlreadyExistsError, "exists already");
});

Deno.test("ContainerTable.status and deleteExec answer for a process", () => {
  const { t, c } = table();
  c.init.lifecycle.moveTo("running");
  c.init.pid = 10;
  t.addExec(exec("e1"));
  const e = t.process("c1", "e1");
  let closed = false;
  e.io = { drained: () => Promise.resolve(), close: () => (closed = true), closed: false };
  e.pid = 11;
  e.lifecycle.moveTo("running");
  const exit = { pid: 11, exitStatus: 2, exitedAt: new Date(5) };
  e.setExited(exit);
  assertEquals(t.status("c1", "e1"), {
    containerId: "c1",
    execId: "e1",
    bundle: "/b",
    pid: 11,
    state: "stopped",
    exitStatus: 2,
    exitedAt: new Date(5),
    ...stdio,
  });
  assertEquals(t.status("c1", "").state, "running");
  assertEquals(t.deleteExec(c, e), exit);
  assertEquals([closed, e.lifecycle.state, c.execs.has("e1")], [true, "deleted", false]);
});

Deno.test("exit and delete events carry the ids containerd expects", () => {
  const exit = { pid: 3, exitStatus: 1, exitedAt: new Date(9) };
  const init = new TaskProcess<Io>("c1", "", stdio);
  const e1 = new TaskProcess<Io>("c1", "e1", stdio);
  assertEquals(exitEvent("c1", init, exit), {
    topic: "/tasks/exit",
    containerId: "c1",
    id: "c1",
    ...exit,
  });
  assertEquals(exitEvent("c1", e1, exit).id, "e1");
  assertEquals(deleteEvent("c1", exit), {
    topic: "/tasks/delete",
    containerId: "c1",
    id: "",
    ...exit,
  });
});

Deno.test("ContainerTable.pause/resume run the runtime's part between the check and the move", async () => {
  const { t, c } = table();
  const calls: string[] = [];
  await assertRejects(
    () => t.pause("c1", () => Promise.resolve(calls.push("pause"))),
    FailedPreconditionError,
    'Cannot pause container "c1": it is created',
  );
  c.init.lifecycle.moveTo("running");
  await assertRejects(
    () => t.pause("c1", () => Promise.reject(new Error("agent is gone"))),
    Error,
    "agent is gone",
  );
  assertEquals(c.init.lifecycle.state, "running", "a failed pause leaves the state");
  assertEquals(
    await t.pause("c1", (x) => Promise.resolve(calls.push(`pause ${x.id}`))),
    { topic: "/tasks/paused", containerId: "c1" },
  );
  assertEquals(c.init.lifecycle.state, "paused");
  assertEquals(
    await t.resume("c1", (x) => Promise.resolve(calls.push(`resume ${x.id}`))),
    { topic: "/tasks/resumed", containerId: "c1" },
  );
  assertEquals([calls, c.init.lifecycle.state], [["pause c1", "resume c1"], "running"]);
});

Deno.test("the create event names the container, its bundle, rootfs, stdio and init pid", () => {
  const init = new TaskProcess<Io>("c1", "", stdio);
  init.pid = 12;
  const rootfs = [{ type: "bind", source: "/s", target: "", options: ["rbind"] }];
  assertEquals(createEvent({ id: "c1", bundle: "/b", rootfs, ...stdio }, init), {
    topic: "/tasks/create",
    containerId: "c1",
    bundle: "/b",
    rootfs,
    io: stdio,
    pid: 12,
  });
});
