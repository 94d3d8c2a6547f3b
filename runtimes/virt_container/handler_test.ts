import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { NotFoundError } from "../../common/errors.ts";
import type { LoadedConfig } from "../../config/load.ts";
import { StateStore } from "../../persist/state_store.ts";
import { mountsUnder } from "../../resource/share_fs/mounts.ts";
import { create } from "@bufbuild/protobuf";
import { ReadStreamResponseSchema } from "../../agent/gen/agent_pb.ts";
import { RecordingHypervisor } from "../../tests/virt_container/doubles.ts";
import { CRI_CONTAINER_TYPE, CRI_SANDBOX_ID } from "./cri.ts";
import { VM_DEATH_EXIT_STATUS } from "./exit_wait.ts";
import { VirtContainerHandler } from "./handler.ts";
import { testsNeeding } from "../../tests/tier.ts";
import { finish, rig, stdio, until } from "../../tests/virt_container/handler_rig.ts";

/** test: these tests need more than the unit tier (ignored, saying why, where missing). */
const test = testsNeeding({ root: true });

test("ctr run: the first Create starts the sandbox; start, exit, delete end it (recording Hypervisor and agent doubles)", async () => {
  const r = await rig();
  const b = r.bundle("c1");
  const out = `${r.root}/stdout`;
  let reads = 0;
  const readOptions: unknown[] = [];
  r.agent.handlers.readStdout = (req) => {
    readOptions.push((req as { options: unknown }).options);
    reads++;
    return Promise.resolve(create(ReadStreamResponseSchema, {
      data: reads === 1 ? new TextEncoder().encode("hello\n") : new Uint8Array(),
    }));
  };
  const pid = await r.handler.createContainer({
    id: "c1",
    bundle: b,
    rootfs: [],
    ...stdio(`file://${out}`),
  });
  assertEquals(pid, 4242, "containerd sees the VMM pid");
  // The rootfs is shared into the guest path the spec names.
  const cc = r.agent.requests.find((x) => x.method === "createContainer")!.req as {
    containerId: string;
    OCI: { Root: { Path: string }; Linux: { Namespaces: { Type: string }[] } };
  };
  assertEquals(cc.containerId, "c1");
  assertEquals(cc.OCI.Root.Path, "/run/kata-containers/shared/containers/c1/rootfs");
  assertEquals(cc.OCI.Linux.Namespaces.map((n) => n.Type), ["pid"]);
  assertEquals(Deno.readTextFileSync(`${r.root}/run/c1/shared/c1/rootfs/bin/sh`), "#!");
  const state = JSON.parse(Deno.readTextFileSync(`${r.root}/run/c1/state.json`));
  assertEquals(state.runtime, "virt_container");
  assertEquals(state.containers[0].id, "c1");

  assertEquals(await r.handler.start("c1", ""), 4242);
  await until(() => r.agent.waiting("c1", ""));
  // Calls that last as long as the process must carry no deadline.
  const wait = r.agent.requests.find((x) => x.method === "waitProcess")!;
  assertEquals(wait.options, { timeoutMs: 0 });
  assertEquals(readOptions, [{ timeoutMs: 0 }, { timeoutMs: 0 }]);
  r.agent.exit("c1", "", 3);
  const exit = await r.handler.wait("c1", "");
  assertEquals(exit.exitStatus, 3);
  assertEquals(Deno.readTextFileSync(out), "hello\n");
  assertEquals((await r.handler.state("c1", "")).state, "stopped");
  await r.handler.delete("c1", "");
  assertEquals(r.events.map((e) => e.topic), [
    "/tasks/create",
    "/tasks/start",
    "/tasks/exit",
    "/tasks/delete",
  ]);
  assertEquals(
    r.log.calls.filter((c) =>
      /createContainer|startContainer|removeContainer|stopVm|cleanup/.test(c)
    ),
    [
      "agent.createContainer",
      "agent.startContainer",
      "agent.removeContainer",
      "hv.stopVm",
      "hv.cleanup",
    ],
  );
  assertEquals(r.handler.containerIds(), []);
  await r.handler.shutdown();
  finish(r);
});

test("CRI pod: a container joins the running sandbox; deleting it keeps the VM", async () => {
  const r = await rig();
  await r.handler.createContainer({
    id: "pod1",
    bundle: r.bundle("pod1", { [CRI_CONTAINER_TYPE]: "sandbox", [CRI_SANDBOX_ID]: "pod1" }),
    rootfs: [],
    ...stdio(),
  });
  await r.handler.createContainer({
    id: "app",
    bundle: r.bundle("app", { [CRI_CONTAINER_TYPE]: "container", [CRI_SANDBOX_ID]: "pod1" }),
    rootfs: [],
    ...stdio(),
  });
  assertEquals(r.hvs.length, 1, "one VM for the pod");
  assertEquals(r.log.calls.filter((c) => c === "agent.createSandbox").length, 1);
  await r.handler.delete("app", "");
  assertEquals(r.hvs[0].vmState, "running");
  assert(!r.log.calls.includes("hv.stopVm"));
  await assertRejects(
    () =>
      r.handler.createContainer({
        id: "other",
        bundle: r.bundle("other", { [CRI_CONTAINER_TYPE]: "container", [CRI_SANDBOX_ID]: "pod2" }),
        rootfs: [],
        ...stdio(),
      }),
    NotFoundError,
    `sandbox "pod2" is not running`,
  );
  await r.handler.delete("pod1", "");
  assert(r.log.calls.includes("hv.stopVm"));
  await r.handler.shutdown();
  finish(r);
});

test("exec, kill, pause/resume, update and stats go through the agent; resize needs a terminal", async () => {
  const r = await rig();
  await r.handler.createContainer({ id: "c1", bundle: r.bundle("c1"), rootfs: [], ...stdio() });
  await r.handler.start("c1", "");
  await r.handler.exec({
    containerId: "c1",
    execId: "e1",
    process: { args: ["ls"], cwd: "/" },
    ...stdio(),
  });
  await r.handler.start("c1", "e1");
  const ex = r.agent.requests.find((x) => x.method === "execProcess")!.req as {
    execId: string;
    process: { Args: string[] };
  };
  assertEquals([ex.execId, ex.process.Args], ["e1", ["ls"]]);
  await until(() => r.agent.waiting("c1", "e1"));
  r.agent.exit("c1", "e1", 0);
  assertEquals((await r.handler.wait("c1", "e1")).exitStatus, 0);
  await r.handler.delete("c1", "e1");
  await r.handler.pause("c1");
  await r.handler.resume("c1");
  await r.handler.update("c1", { memory: { limit: 1048576 } });
  const st = await r.handler.stats("c1");
  assertEquals(st.version, 1);
  await assertRejects(() => r.handler.resizePty("c1", "", 80, 24), Error, "has no terminal");
  await r.handler.kill("c1", "", 15, false);
  const sig = r.agent.requests.find((x) => x.method === "signalProcess")!.req as { signal: number };
  assertEquals(sig.signal, 15);
  assertEquals(
    r.events.map((e) => e.topic),
    [
      "/tasks/create",
      "/tasks/start",
      "/tasks/exec-added",
      "/tasks/exec-started",
      "/tasks/exit",
      "/tasks/paused",
      "/tasks/resumed",
    ],
  );
  for (const m of ["pauseContainer", "resumeContainer", "updateContainer", "statsContainer"]) {
    assert(r.log.calls.includes(`agent.${m}`), m);
  }
  await r.handler.shutdown();
  finish(r);
});

test("VM death: every live task exits with 255 and everything is cleaned up", async () => {
  const r = await rig();
  await r.handler.createContainer({ id: "c1", bundle: r.bundle("c1"), rootfs: [], ...stdio() });
  await r.handler.start("c1", "");
  await r.handler.exec({
    containerId: "c1",
    execId: "e1",
    process: { args: ["sleep"] },
    ...stdio(),
  });
  await r.handler.start("c1", "e1");
  r.hvs[0].die();
  const [a, b] = await Promise.all([r.handler.wait("c1", ""), r.handler.wait("c1", "e1")]);
  assertEquals([a.exitStatus, b.exitStatus], [VM_DEATH_EXIT_STATUS, VM_DEATH_EXIT_STATUS]);
  const exits = r.events.filter((e) => e.topic === "/tasks/exit").map((e) =>
    (e as { id: string }).id
  );
  assertEquals(exits.sort(), ["c1", "e1"]);
  await until(() => r.log.calls.includes("hv.cleanup"));
  await until(() => mountsUnder(r.root).length === 0);
  await assertRejects(() => r.handler.kill("c1", "", 9, false), NotFoundError);
  const d = await r.handler.delete("c1", "");
  assertEquals(d.exitStatus, VM_DEATH_EXIT_STATUS);
  await r.handler.shutdown();
  finish(r);
});

test("a CreateContainer the agent refuses ends the new sandbox and leaves nothing", async () => {
  const r = await rig();
  r.agent.handlers.createContainer = () => Promise.reject(new Error("guest says no"));
  await assertRejects(
    () => r.handler.createContainer({ id: "c1", bundle: r.bundle("c1"), rootfs: [], ...stdio() }),
    Error,
    "guest says no",
  );
  assertEquals(r.handler.containerIds(), []);
  assert(r.log.calls.includes("hv.stopVm"));
  assertEquals(r.events, []);
  await r.handler.shutdown();
  finish(r);
});

Deno.test("a failing sandbox start (agent dial) surfaces and leaves nothing", async () => {
  const r = await rig();
  const cfg: LoadedConfig = structuredClone(r.config);
  cfg.hypervisor!.shared_fs = "virtio-9p"; // no virtiofsd needed before the dial fails
  const h = new VirtContainerHandler({
    config: cfg,
    dialAgent: () => Promise.reject(new Error("no agent listening")),
    store: new StateStore({ root: `${r.root}/run` }),
    testHooks: {
      hypervisorFactory: () => new RecordingHypervisor(r.log),
      cgroupFactory: () => null,
    },
  });
  await assertRejects(
    () => h.createContainer({ id: "c1", bundle: r.bundle("c1"), rootfs: [], ...stdio() }),
    Error,
    "no agent listening",
  );
  assertEquals(h.sandbox, undefined);
  await h.shutdown();
  finish(r);
});

test("prestart/createRuntime hooks run at sandbox start; poststart/poststop around the container, failures only logged", async () => {
  const hooks: string[] = [];
  const r = await rig(hooks);
  const h = (p: string) => [{ path: p }];
  const b = r.bundle("c1", {}, {
    hooks: {
      prestart: h("/pre"),
      createRuntime: h("/cr"),
      poststart: h("/post"),
      poststop: h("/stop"),
    },
  });
  await r.handler.createContainer({ id: "c1", bundle: b, rootfs: [], ...stdio() });
  await r.handler.start("c1", "");
  await until(() => r.agent.waiting("c1", ""));
  r.agent.exit("c1", "", 0);
  await r.handler.wait("c1", "");
  await r.handler.delete("c1", "");
  assertEquals(hooks, [
    "prestart:c1:creating:/pre",
    "createRuntime:c1:creating:/cr",
    "poststart:c1:running:/post",
    "poststop:c1:stopped:/stop",
  ]);
  await r.handler.shutdown();
  finish(r);
});
