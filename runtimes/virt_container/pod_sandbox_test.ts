import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from "../../common/errors.ts";
import { testsNeeding } from "../../tests/tier.ts";
import { finish, type Rig, rig, stdio, until } from "../../tests/virt_container/handler_rig.ts";
import type { CreateSandboxRequest, PodConfig } from "../pod_sandbox.ts";
import { CRI_CONTAINER_TYPE, CRI_SANDBOX_ID } from "./cri.ts";
import { VM_DEATH_EXIT_STATUS } from "./exit_wait.ts";

/** test: these tests need more than the unit tier (ignored, saying why, where missing). */
const test = testsNeeding({ root: true });

const MIB = 2 ** 20;

function pod(over: Partial<PodConfig> = {}): PodConfig {
  return {
    name: "web",
    uid: "u1",
    namespace: "default",
    attempt: 0,
    hostname: "web-host",
    logDirectory: "",
    dns: { servers: ["10.96.0.10"], searches: ["default.svc.cluster.local"], options: ["ndots:5"] },
    labels: {},
    annotations: {},
    cgroupParent: "",
    namespaces: { network: "POD", pid: "POD", ipc: "POD" },
    privileged: false,
    sysctls: {},
    // Half a CPU and 300 MiB: the VM gets 1 + 0.5 → 2 vCPUs and 2048 + 300 MiB.
    resources: {
      cpuPeriod: 100000,
      cpuQuota: 50000,
      cpuShares: 512,
      memoryLimitInBytes: 300 * MIB,
    },
    ...over,
  };
}

function createReq(
  r: Rig,
  id: string,
  over: Partial<CreateSandboxRequest> = {},
): CreateSandboxRequest {
  const bundle = `${r.root}/sandbox-bundles/${id}`;
  Deno.mkdirSync(bundle, { recursive: true });
  return {
    id,
    bundle,
    netnsPath: `/var/run/netns/cni-${id}`,
    pod: pod(),
    annotations: {},
    rootfs: [],
    ...over,
  };
}

/** A pod container as containerd's CRI makes it under the Sandbox API (namespaces of the shim's pid). */
function appBundle(r: Rig, id: string, sandboxId: string, sharePid: boolean): string {
  const ns = (type: string) => ({ type, path: `/proc/${Deno.pid}/ns/${type}` });
  return r.bundle(id, { [CRI_CONTAINER_TYPE]: "container", [CRI_SANDBOX_ID]: sandboxId }, {
    linux: {
      namespaces: [
        ns("ipc"),
        ns("uts"),
        sharePid ? ns("pid") : { type: "pid" },
        { type: "mount" },
        { type: "network", path: `/var/run/netns/cni-${sandboxId}` },
      ],
    },
  });
}

/** A rig whose VM size is not capped by this host's CPUs and memory. */
async function podRig(): Promise<Rig> {
  const r = await rig();
  r.config.hypervisor!.default_maxvcpus = 0;
  r.config.hypervisor!.default_maxmemory = 0;
  return r;
}

test("Sandbox API pod: StartSandbox boots the VM from the PodConfig; containers join it; StopSandbox ends it and WaitSandbox reports it", async () => {
  const r = await podRig();
  await r.handler.createSandbox(createReq(r, "pod"));
  assertEquals(r.handler.podSandboxId(), "pod");
  assertEquals(r.hvs.length, 0, "CreateSandbox runs nothing");
  assertEquals((await r.handler.sandboxStatus("pod", false)).state, "created");

  const started = await r.handler.startSandbox("pod");
  assertEquals(started.pid, Deno.pid, "CRI gets the shim's pid for the namespace paths");
  assertEquals(r.hvs.length, 1, "one VM for the pod");
  assertEquals(r.netns, ["/var/run/netns/cni-pod"], "the VM joins the pod's CNI netns");
  assertEquals(
    r.hvConfigs[0].default_vcpus,
    2,
    "1 default vCPU + 0.5 of the pod's limit, rounded up",
  );
  assertEquals(r.hvConfigs[0].default_memory, 2048 + 300);
  const cs = r.agent.requests.find((x) => x.method === "createSandbox")!.req as {
    hostname: string;
    dns: string[];
    sandboxId: string;
  };
  assertEquals(cs.sandboxId, "pod");
  assertEquals(cs.hostname, "web-host");
  assertEquals(cs.dns, [
    "search default.svc.cluster.local",
    "nameserver 10.96.0.10",
    "options ndots:5",
  ]);
  const st = await r.handler.sandboxStatus("pod", true);
  assertEquals([st.state, st.pid], ["ready", Deno.pid]);
  assertEquals(st.info.vmmPids, "4242");
  const saved = JSON.parse(Deno.readTextFileSync(`${r.root}/run/pod/state.json`));
  assertEquals([saved.sandbox_id, saved.runtime], ["pod", "virt_container"]);

  // The pod's containers arrive through Task Create naming the sandbox.
  await r.handler.createContainer({
    id: "app",
    bundle: appBundle(r, "app", "pod", true),
    rootfs: [],
    ...stdio(),
  });
  await r.handler.createContainer({
    id: "side",
    bundle: appBundle(r, "side", "pod", false),
    rootfs: [],
    ...stdio(),
  });
  assertEquals(r.hvs.length, 1, "the containers join the pod's VM");
  const created = r.agent.requests.filter((x) => x.method === "createContainer").map((x) =>
    x.req as {
      containerId: string;
      sandboxPidns: boolean;
      OCI: { Linux: { Namespaces: { Type: string; Path: string }[] } };
    }
  );
  assertEquals(created.map((c) => [c.containerId, c.sandboxPidns]), [
    ["app", true],
    ["side", false],
  ]);
  // The host namespace paths CRI wrote (the shim's) mean nothing in the guest: dropped.
  assertEquals(created[0].OCI.Linux.Namespaces.map((n) => ({ Type: n.Type, Path: n.Path })), [
    { Type: "ipc", Path: "" },
    { Type: "uts", Path: "" },
    { Type: "pid", Path: "" },
    { Type: "mount", Path: "" },
  ]);
  assertEquals(await r.handler.start("app", ""), 4242);
  await until(() => r.agent.waiting("app", ""));

  const waited = r.handler.waitSandbox("pod");
  await r.handler.stopSandbox("pod", 10);
  const exit = await waited;
  assertEquals(exit.exitStatus, 0, "an asked stop");
  assertEquals(exit.pid, Deno.pid);
  assertEquals((await r.handler.wait("app", "")).exitStatus, VM_DEATH_EXIT_STATUS);
  assertEquals((await r.handler.sandboxStatus("pod", false)).state, "notready");
  // The one clean-up order: the VM first, then its shared files.
  const end = r.log.calls.filter((c) => /stopVm|cleanup/.test(c));
  assertEquals(end, ["hv.stopVm", "hv.cleanup"]);
  await r.handler.stopSandbox("pod", 0);
  assertEquals(r.log.calls.filter((c) => c === "hv.stopVm").length, 1, "a second stop is a no-op");

  // CRI removes the containers, then shuts the sandbox down.
  await r.handler.delete("app", "");
  await r.handler.delete("side", "");
  assertEquals(r.handler.podSandboxId(), "pod", "the pod outlives its containers");
  await r.handler.shutdownSandbox("pod");
  assertEquals(r.handler.podSandboxId(), undefined);
  await r.handler.shutdownSandbox("pod"); // a retried shutdown finds nothing to do
  await assertRejects(() => r.handler.sandboxStatus("pod", false), NotFoundError);
  await r.handler.shutdown();
  finish(r);
});

test("Sandbox API pod: a VM that dies is WaitSandbox's answer; its tasks exit; shutdown cleans up", async () => {
  const r = await podRig();
  await r.handler.createSandbox(createReq(r, "pod"));
  await r.handler.startSandbox("pod");
  await r.handler.createContainer({
    id: "app",
    bundle: appBundle(r, "app", "pod", false),
    rootfs: [],
    ...stdio(),
  });
  await r.handler.start("app", "");
  const waited = r.handler.waitSandbox("pod");
  r.hvs[0].die();
  assertEquals((await waited).exitStatus, VM_DEATH_EXIT_STATUS);
  assertEquals((await r.handler.wait("app", "")).exitStatus, VM_DEATH_EXIT_STATUS);
  assertEquals((await r.handler.sandboxStatus("pod", false)).state, "notready");
  await assertRejects(() => r.handler.sandboxMetrics("pod"), FailedPreconditionError, "notready");
  // containerd stops and shuts down the dead pod: both wait for the clean-up under way.
  await r.handler.stopSandbox("pod", 0);
  await r.handler.delete("app", "");
  await r.handler.shutdownSandbox("pod");
  assert(r.log.calls.includes("hv.cleanup"));
  await r.handler.shutdown();
  finish(r);
});

test("Sandbox API pod: a failed start leaves nothing and reports the pod not ready", async () => {
  const r = await podRig();
  await r.handler.createSandbox(createReq(r, "pod"));
  r.log.failAt = "agent.createSandbox";
  await assertRejects(() => r.handler.startSandbox("pod"), Error, "injected failure");
  assertEquals((await r.handler.sandboxStatus("pod", false)).state, "notready");
  assertEquals((await r.handler.waitSandbox("pod")).exitStatus, 1);
  await assertRejects(() => r.handler.startSandbox("pod"), FailedPreconditionError, "notready");
  await r.handler.shutdownSandbox("pod");
  await r.handler.shutdown();
  finish(r);
});

test("Sandbox API pod: SandboxMetrics are the host cgroup metrics of the VMM", async () => {
  const asked: number[] = [];
  const r = await rig(undefined, {
    readMetrics: (pid) => {
      asked.push(pid);
      return { version: 2, metrics: { pids: { current: 3n, limit: 0n } } };
    },
  });
  await r.handler.createSandbox(createReq(r, "pod", { pod: pod({ resources: undefined }) }));
  await assertRejects(() => r.handler.sandboxMetrics("pod"), FailedPreconditionError, "created");
  await r.handler.startSandbox("pod");
  assertEquals(r.hvConfigs[0].default_vcpus, 1, "a pod without limits gets the defaults");
  assertEquals(r.hvConfigs[0].default_memory, 2048);
  const m = await r.handler.sandboxMetrics("pod");
  assertEquals(m, { version: 2, metrics: { pids: { current: 3n, limit: 0n } } });
  assertEquals(asked, [4242]);
  await r.handler.shutdownSandbox("pod");
  await r.handler.shutdown();
  finish(r);
});

test("Sandbox API pod: host network, a second sandbox and unknown ids are refused clearly", async () => {
  const r = await podRig();
  await assertRejects(
    () =>
      r.handler.createSandbox(
        createReq(r, "hostnet", {
          netnsPath: "",
          pod: pod({ namespaces: { network: "NODE", pid: "CONTAINER", ipc: "POD" } }),
        }),
      ),
    InvalidArgumentError,
    'Cannot create sandbox "hostnet": a pod on the host network',
  );
  assertEquals(r.handler.podSandboxId(), undefined);
  await r.handler.createSandbox(createReq(r, "pod"));
  await assertRejects(
    () => r.handler.createSandbox(createReq(r, "pod2")),
    AlreadyExistsError,
    'this shim runs sandbox "pod"',
  );
  await assertRejects(
    () =>
      r.handler.createContainer({
        id: "pause",
        bundle: r.bundle("pause", { [CRI_CONTAINER_TYPE]: "sandbox" }),
        rootfs: [],
        ...stdio(),
      }),
    AlreadyExistsError,
    'this shim runs sandbox "pod"',
  );
  await assertRejects(() => r.handler.startSandbox("other"), NotFoundError, 'sandbox "other"');
  await assertRejects(
    () =>
      r.handler.createContainer({
        id: "early",
        bundle: appBundle(r, "early", "pod", false),
        rootfs: [],
        ...stdio(),
      }),
    NotFoundError,
    'sandbox "pod" is not running',
  );
  await r.handler.stopSandbox("pod", 0);
  assertEquals((await r.handler.waitSandbox("pod")).exitStatus, 0, "stopped before it started");
  await r.handler.shutdownSandbox("pod");
  assertEquals(r.hvs.length, 0);
  await r.handler.shutdown();
  finish(r);
});

test("podsandbox: a pause container on the host network is refused at its Create", async () => {
  const r = await rig();
  await assertRejects(
    () =>
      r.handler.createContainer({
        id: "pause",
        bundle: r.bundle("pause", { [CRI_CONTAINER_TYPE]: "sandbox", [CRI_SANDBOX_ID]: "pause" }, {
          linux: { namespaces: [{ type: "pid" }, { type: "ipc" }] },
        }),
        rootfs: [],
        ...stdio(),
      }),
    InvalidArgumentError,
    "host network",
  );
  assertEquals(r.hvs.length, 0, "no VM was started");
  await r.handler.shutdown();
  finish(r);
});
