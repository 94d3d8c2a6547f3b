import { assert, assertEquals, assertRejects, assertThrows } from "../../tests/assert.ts";
import { testsNeeding } from "../../tests/tier.ts";
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnimplementedError,
} from "../../common/errors.ts";
import { StateStore } from "../../persist/mod.ts";
import { mountsUnder } from "../../persist/remove_tree.ts";
import { isSameProcess } from "../../persist/process_identity.ts";
import type { CreateSandboxRequest, PodConfig } from "../pod_sandbox.ts";
import { Reaper } from "../reaper.ts";
import { cleanupLostSandbox } from "../lost_sandbox.ts";
import { LinuxPod, type LinuxPodDeps } from "./pod.ts";
import { podStateOf } from "./pod_state.ts";
import type { SelfCommand } from "./ns_holder.ts";

const rootTest = testsNeeding({ root: true });

/** The shim from source, as shim/self_command.ts runs it. */
const SELF: SelfCommand = {
  program: Deno.execPath(),
  args: ["run", "-A", "--quiet", new URL("../../main.ts", import.meta.url).pathname],
};

function pod(over: Partial<PodConfig> = {}): PodConfig {
  return {
    name: "p",
    uid: "u",
    namespace: "default",
    attempt: 0,
    hostname: "podhost",
    logDirectory: "",
    dns: { servers: ["192.0.2.53"], searches: [], options: [] },
    labels: {},
    annotations: {},
    cgroupParent: "",
    namespaces: { network: "NODE", pid: "CONTAINER", ipc: "NODE" },
    privileged: false,
    sysctls: {},
    ...over,
  };
}

function request(id: string, p: PodConfig, netnsPath = ""): CreateSandboxRequest {
  return { id, bundle: "/nonexistent", netnsPath, pod: p, annotations: {}, rootfs: [] };
}

async function setup(): Promise<{ root: string; deps: LinuxPodDeps; killed: string[] }> {
  const root = await Deno.makeTempDir({ prefix: "rts-pod-" });
  const killed: string[] = [];
  const deps: LinuxPodDeps = {
    store: new StateStore({ root }),
    reaper: new Reaper(),
    self: undefined,
    killContainers: () => {
      killed.push("all");
      return Promise.resolve();
    },
  };
  return { root, deps, killed };
}

Deno.test("linux pod: a pod on its own network without a netns path is refused", async () => {
  const { root, deps } = await setup();
  try {
    const err = await assertRejects(
      () =>
        LinuxPod.create(
          request("p1", pod({ namespaces: { network: "POD", pid: "POD", ipc: "POD" } })),
          deps,
        ),
      InvalidArgumentError,
    );
    assertEquals(
      err.message,
      'Sandbox "p1": a pod on its own network needs a network namespace path',
    );
    assertEquals([...Deno.readDirSync(root)], [], "nothing made");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("linux pod: files, states and refusals of a pod that never starts (no root)", async () => {
  const { root, deps, killed } = await setup();
  try {
    const p = await LinuxPod.create(request("p2", pod()), deps);
    const dir = `${root}/p2`;
    assertEquals(Deno.readTextFileSync(`${dir}/hostname`), "podhost\n");
    assertEquals(Deno.readTextFileSync(`${dir}/resolv.conf`), "nameserver 192.0.2.53\n");
    assert(Deno.readTextFileSync(`${dir}/hosts`).length > 0, "a copy of the node's hosts");
    assertEquals(podStateOf(await deps.store.load("p2")), {
      id: "p2",
      holder: null,
      containers: [],
    });
    await assertRejects(() => LinuxPod.create(request("p2", pod()), deps), Error, "exists already");
    assertEquals(p.status(false), {
      pid: 0,
      state: "created",
      createdAt: undefined,
      exitedAt: undefined,
      info: {},
    });
    await assertRejects(() => p.start(), UnimplementedError, "runs only inside the shim");
    assertThrows(() => p.metrics(), FailedPreconditionError, "has no cgroup parent");
    // A container of the pod is refused before the pod runs; another pod's keeps its bundle.
    const bundle = `${root}/bundle`;
    Deno.mkdirSync(bundle);
    const spec = (id: string) =>
      JSON.stringify({
        root: { path: "rootfs" },
        annotations: { "io.kubernetes.cri.sandbox-id": id },
      });
    Deno.writeTextFileSync(`${bundle}/config.json`, spec("other"));
    assertEquals(p.bundleFor(bundle, `${root}/c`), bundle);
    Deno.writeTextFileSync(`${bundle}/config.json`, spec("p2"));
    assertThrows(() => p.bundleFor(bundle, `${root}/c`), FailedPreconditionError, "it is created");
    await p.stop();
    assertEquals(killed, ["all"]);
    assertEquals((await p.wait()).exitStatus, 0);
    assertEquals(p.status(false).state, "notready");
    await p.shutdown();
    assert(!(await deps.store.exists("p2")), "state removed");
    assertThrows(() => Deno.statSync(dir), Deno.errors.NotFound);
  } finally {
    deps.reaper.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("linux pod: SandboxMetrics reads the pod's cgroup parent, v1 or v2", async () => {
  const { root, deps } = await setup();
  try {
    const of = async (id: string, cgroupParent: string) =>
      await LinuxPod.create(request(id, pod({ cgroupParent })), deps);
    const v2 = `${root}/v2`;
    Deno.mkdirSync(`${v2}/kubepods/pod1`, { recursive: true });
    Deno.writeTextFileSync(`${v2}/kubepods/pod1/cpu.stat`, "usage_usec 42\n");
    Deno.writeTextFileSync(`${v2}/kubepods/pod1/pids.current`, "3\n");
    const m = (await of("m1", "/kubepods/pod1")).metrics(v2);
    assertEquals(m.version, 2);
    const cpu = (m.metrics as { cpu: { usageUsec: bigint } }).cpu;
    assertEquals(cpu.usageUsec, 42n);
    assertEquals((m.metrics as { pids: { current: bigint } }).pids.current, 3n);
    const v1 = `${root}/v1`;
    Deno.mkdirSync(`${v1}/memory/kubepods/pod2`, { recursive: true });
    Deno.mkdirSync(`${v1}/cpuacct/kubepods/pod2`, { recursive: true });
    Deno.writeTextFileSync(`${v1}/cpuacct/kubepods/pod2/cpuacct.usage`, "7\n");
    assertEquals((await of("m2", "kubepods/pod2")).metrics(v1).version, 1);
    await assertRejects(
      async () => (await of("m4", "/kubepods/none")).metrics(v2),
      NotFoundError,
      "cgroup /kubepods/none does not exist",
    );
    await assertRejects(
      async () => (await of("m5", "kubepods-pod5.slice")).metrics(v2),
      UnimplementedError,
      "a systemd slice",
    );
  } finally {
    deps.reaper.close();
    await Deno.remove(root, { recursive: true });
  }
});

/** Runs `fn` on a pod made with the shim's binary for its holder, then releases everything. */
async function withPod(
  id: string,
  namespaces: PodConfig["namespaces"],
  fn: (p: LinuxPod, root: string, deps: LinuxPodDeps) => Promise<void>,
): Promise<void> {
  const { root, deps } = await setup();
  deps.self = SELF;
  const p = await LinuxPod.create(request(id, pod({ namespaces })), deps);
  try {
    await fn(p, root, deps);
  } finally {
    await p.shutdown().catch(() => {});
    deps.reaper.close();
    await Deno.remove(root, { recursive: true });
  }
}

rootTest({
  name: "linux pod: holder, shared /dev/shm and private bundle; stop ends the holder",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withPod("p3", { network: "NODE", pid: "POD", ipc: "POD" }, async (p, root, deps) => {
      const dir = `${root}/p3`;
      assertEquals(mountsUnder(dir), [`${dir}/shm`], "the pod's /dev/shm");
      const { pid } = await p.start();
      const holder = podStateOf(await deps.store.load("p3"))?.holder;
      assert(holder && holder.pid === pid && isSameProcess(holder), "the holder is recorded");
      assertEquals(p.status(true).state, "ready");
      assertEquals(p.status(true).info.pidMode, "POD");
      const bundle = `${root}/bundle`;
      Deno.mkdirSync(bundle);
      Deno.writeTextFileSync(
        `${bundle}/config.json`,
        JSON.stringify({
          root: { path: "rootfs" },
          annotations: { "io.kubernetes.cri.sandbox-id": "p3" },
        }),
      );
      Deno.mkdirSync(`${root}/c`);
      const own = p.bundleFor(bundle, `${root}/c`);
      assertEquals(own, `${root}/c/bundle`);
      const spec = JSON.parse(Deno.readTextFileSync(`${own}/config.json`));
      assertEquals(spec.root.path, `${bundle}/rootfs`);
      assertEquals(
        spec.mounts.map((m: { destination: string; source: string }) => [m.destination, m.source]),
        [
          ["/etc/hostname", `${dir}/hostname`],
          ["/etc/hosts", `${dir}/hosts`],
          ["/etc/resolv.conf", `${dir}/resolv.conf`],
          ["/dev/shm", `${dir}/shm`],
        ],
      );
      await p.track("c1", true);
      assertEquals(podStateOf(await deps.store.load("p3"))?.containers, ["c1"]);
      await p.stop();
      assertEquals((await p.wait()).exitStatus, 137);
      assert(!isSameProcess(holder), "the holder is gone");
      await p.shutdown();
      assertEquals(mountsUnder(dir), []);
      assertThrows(() => Deno.statSync(dir), Deno.errors.NotFound);
    }),
});

rootTest({
  name: "linux pod: shim delete after a lost shim kills the recorded holder and removes the pod",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withPod("p4", { network: "NODE", pid: "CONTAINER", ipc: "POD" }, async (p, root, deps) => {
      await p.start();
      // A container of the pod that left only its directory (no record).
      Deno.mkdirSync(`${root}/c4`);
      await p.track("c4", true);
      const holder = podStateOf(await deps.store.load("p4"))?.holder;
      assert(holder && isSameProcess(holder));
      // What `shim delete` runs once the shim is gone (this process plays the dead shim).
      await cleanupLostSandbox("p4", `${root}/no-bundle`, root);
      await p.wait();
      assert(!isSameProcess(holder), "the holder is killed");
      assertEquals(mountsUnder(`${root}/p4`), []);
      assertEquals([...Deno.readDirSync(root)], [], "pod and container directories removed");
      // Twice is harmless.
      await cleanupLostSandbox("p4", `${root}/no-bundle`, root);
    }),
});
