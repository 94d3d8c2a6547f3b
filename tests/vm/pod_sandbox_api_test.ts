/**
 * VM group: a Kubernetes pod through containerd 2.1's Sandbox API
 * (`sandboxer = "shim"`, issue 25) on the built-in VMM and on QEMU. The CRI
 * plugin hands the pod to our shim's Sandbox service: no pause container
 * exists anywhere (containerd lists no container and no task of the pod's
 * id), the pod's two containers arrive through Task Create and run in one
 * guest kernel (one boot id, not the host's), sharing the IPC, UTS and PID
 * namespaces the guest agent holds for the pod, and the pod's limits (one
 * CPU, 256 MiB) size the VM with static_sandbox_resource_mgmt: the guest
 * shows default_vcpus + 1 vCPUs and default_memory + 256 MiB. Then the shim
 * of a second such pod is SIGKILLed: containerd learns it through
 * WaitSandbox (the pod turns NOTREADY), runs `shim delete` with the sandbox
 * controller's bundle, and after StopPodSandbox/RemovePodSandbox nothing of
 * the pod is left (shim, VMM, mounts, /run/kata, netns, taps, cgroups).
 *
 * Needs /dev/kvm: scripts/test-vm runs it inside scripts/testhost where this
 * machine has none. Build the CRI client first outside the test host
 * (`scripts/deno run -A tests/cri/cri_client.ts`); containerd 2.1 comes from
 * `scripts/install-deps` (.cache/peers, seen by the test host through its
 * root share).
 */
import { assert, assertEquals } from "../assert.ts";
import { Containerd, IMAGE, shimProcesses } from "../containerd/harness.ts";
import { containerdNeeds } from "../containerd/versions.ts";
import { CriClient } from "../cri/cri_client.ts";
import { cniNetns } from "../cri/pod_checks.ts";
import {
  configWithBuiltGuest,
  printContainerdLog,
  SLOW_VM_CONTAINERD,
  vmmPids,
} from "./guest_config.ts";
import { killClients, until, vmTest, type VmTestContext } from "./deadline.ts";
import { needs } from "../tier.ts";

const NO_PEERS = needs({ paths: ["/dev/kvm", ...containerdNeeds("2.1").paths ?? []] }).ignore;

/** The pod's limits: one CPU, 256 MiB. */
const LIMIT_MEMORY_MIB = 256;
/** What the shipped configurations boot with (default_vcpus) and the guest drop-in gives (default_memory). */
const DEFAULT_VCPUS = 1;
const DEFAULT_MEMORY_MIB = 1024;

/** Room for containerd's clean-up of a dead shim (see tests/vm/crash_cleanup_test.ts). */
const CONTAINERD_EXTRA = [
  ...SLOW_VM_CONTAINERD.extraConfig,
  '  "io.containerd.timeout.shim.cleanup" = "120s"',
];

/** Seconds one CRI call may take in a nested guest; RunPodSandbox boots the VM. */
const CALL_S = 240;
const RUN_POD_S = 600;

type Hv = "dragonball" | "qemu";

// deno-lint-ignore no-explicit-any
type Json = any;

function sandboxConfig(suffix: string, logDir: string): Json {
  return {
    metadata: { name: `sbapi-${suffix}`, uid: `uid-${suffix}`, namespace: "default", attempt: 0 },
    hostname: "apipod",
    log_directory: logDir,
    dns_config: { servers: ["192.0.2.53"], searches: ["pods.example"], options: ["ndots:2"] },
    labels: { app: "rts-sandbox-api-test" },
    linux: {
      security_context: { namespace_options: { network: "POD", pid: "POD", ipc: "POD" } },
      resources: {
        cpu_period: 100000,
        cpu_quota: 100000,
        cpu_shares: 1024,
        memory_limit_in_bytes: LIMIT_MEMORY_MIB * 2 ** 20,
      },
    },
  };
}

function containerConfig(podId: string, pod: Json, name: string, script: string): Json {
  return {
    pod_sandbox_id: podId,
    config: {
      metadata: { name, attempt: 0 },
      image: { image: IMAGE },
      command: ["/bin/sh", "-c", script],
      log_path: `${name}.log`,
      linux: {
        security_context: { namespace_options: { network: "POD", pid: "POD", ipc: "POD" } },
      },
    },
    sandbox_config: pod,
  };
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/** The sandbox cgroups a pod's VMM may have lived in, on every hierarchy. */
async function podCgroups(podId: string): Promise<string[]> {
  const roots = ["/sys/fs/cgroup"];
  for await (const e of Deno.readDir("/sys/fs/cgroup")) {
    if (e.isDirectory) roots.push(`/sys/fs/cgroup/${e.name}`);
  }
  const out: string[] = [];
  for (const r of roots) {
    for (const p of [`${r}/kata_${podId}`, `${r}/kata_overhead/${podId}`]) {
      if (await exists(p)) out.push(p);
    }
  }
  return out;
}

/** Nothing of the pod is left on the host: shim, VMM, mounts, state, netns, taps, cgroups. */
async function assertPodGone(
  podId: string,
  ids: string[],
  vmms: number[],
  netnsBefore: Set<string>,
): Promise<void> {
  assertEquals(await shimProcesses(podId), [], "shim (built-in VMM) process left");
  assertEquals((await vmmPids()).filter((p) => vmms.includes(p)), [], "VMM process left");
  const mountinfo = await Deno.readTextFile("/proc/self/mountinfo");
  for (const id of [podId, ...ids]) {
    assert(!await exists(`/run/kata/${id}`), `/run/kata/${id} left`);
    assertEquals(mountinfo.split("\n").filter((l) => l.includes(id)), [], `mounts left for ${id}`);
  }
  const netnsLeft = [...await cniNetns()].filter((n) => !netnsBefore.has(n));
  assertEquals(netnsLeft, [], "pod network namespace left");
  const taps = (await Deno.readTextFile("/proc/net/dev")).split("\n")
    .filter((l) => l.includes(podId.slice(0, 8)));
  assertEquals(taps, [], "tap device left");
  assertEquals(await podCgroups(podId), [], "sandbox cgroup left");
}

/** A private containerd 2.1 whose CRI runtime `kata` has sandboxer "shim" and runs `hv`'s VM. */
async function withContainerd(
  ctx: VmTestContext,
  hv: Hv,
  body: (c: Containerd, cri: CriClient) => Promise<void>,
): Promise<void> {
  const cfgDir = await Deno.makeTempDir({ prefix: `rts-sbapi-${hv}-` });
  try {
    const config = await configWithBuiltGuest(
      hv,
      cfgDir,
      hv === "dragonball" ? ['kernel_params = ""'] : [],
    );
    // A nested guest with two vCPUs under a loaded test host may need more than the drop-in's 240 s.
    await Deno.writeTextFile(
      `${cfgDir}/config.d/60-sandbox-api.toml`,
      "[agent.kata]\nreconnect_timeout_ms = 420000\n",
    );
    ctx.step("containerd 2.1 with the CRI plugin (sandboxer shim) to start");
    const c = await Containerd.start({
      version: "2.1",
      extraConfig: CONTAINERD_EXTRA,
      // No runtime options: containerd 2.1 cannot start a container of a
      // `shim` sandbox whose runtime options are not runc's (ConfigPath's are
      // not); the shim finds the configuration through KATA_CONF_FILE.
      shimEnv: { KATA_CONF_FILE: config },
      cri: { sandboxer: "shim" },
    });
    ctx.evidence("containerd log (with the shim's and the guest console's lines)", () => c.log());
    ctx.onDeadline(() => killClients("ctr", c.address));
    try {
      const cri = new CriClient(c.address, CALL_S);
      await until("the busybox image in the CRI image store", async () => {
        const r = await cri.image("ImageStatus", { image: { image: IMAGE } });
        return r.image ? true : undefined;
      }, ctx.signal);
      await body(c, cri);
    } catch (err) {
      await printContainerdLog(c);
      throw err;
    } finally {
      ctx.step("containerd's clean-up");
      await c.stop();
    }
  } finally {
    await Deno.remove(cfgDir, { recursive: true });
  }
}

/** Separates the reads of one probe exec (echoed in two halves, so `ps` never shows it). */
const SEP = "--rts-sbapi--";

/** Reads what the checks compare, in one exec (each costs seconds in a nested guest). */
async function probe(cri: CriClient, id: string): Promise<Record<string, string>> {
  const reads: Record<string, string> = {
    bootId: "cat /proc/sys/kernel/random/boot_id",
    nproc: "nproc",
    memTotal: "grep MemTotal /proc/meminfo",
    ipc: "readlink /proc/self/ns/ipc",
    uts: "readlink /proc/self/ns/uts",
    hostname: "hostname",
    ps: "ps -o args",
  };
  const echoSep = `echo '${SEP.slice(0, 6)}''${SEP.slice(6)}'`;
  const script = `set -e; ${Object.values(reads).map((c) => `${c}; ${echoSep}`).join("; ")}`;
  const r = await cri.execSync(id, ["sh", "-c", script], CALL_S);
  assertEquals(r.exitCode, 0, `the probe exec in ${id}: ${r.stderr}`);
  const parts = r.stdout.split(`${SEP}\n`).map((p) => p.trim());
  const keys = Object.keys(reads);
  assertEquals(parts.length, keys.length + 1, `probe output of ${id}: ${r.stdout}`);
  return Object.fromEntries(keys.map((k, i) => [k, parts[i]]));
}

async function podScenario(ctx: VmTestContext, hv: Hv): Promise<void> {
  await withContainerd(ctx, hv, async (c, cri) => {
    const suffix = crypto.randomUUID().slice(0, 8);
    const logDir = `${c.dir}/pod-logs-${suffix}`;
    await Deno.mkdir(logDir, { recursive: true });
    const pod = sandboxConfig(suffix, logDir);
    const netnsBefore = await cniNetns();
    ctx.step("RunPodSandbox (the Sandbox API boots the VM)");
    const podId: string = (await cri.runtime("RunPodSandbox", {
      config: pod,
      runtime_handler: "kata",
    }, RUN_POD_S)).pod_sandbox_id;
    const ids: string[] = [];
    let vmms: number[] = [];
    let removed = false;
    try {
      const status = (await cri.runtime("PodSandboxStatus", { pod_sandbox_id: podId })).status;
      assertEquals(status.state ?? "SANDBOX_READY", "SANDBOX_READY", "pod state");
      assert(/^10\.213\.\d+\.\d+$/.test(status.network?.ip ?? ""), `pod IP from CNI: ${status}`);
      vmms = hv === "qemu" ? await vmmPids() : [];
      if (hv === "qemu") assert(vmms.length > 0, "no QEMU process for the pod");

      ctx.step("CreateContainer/StartContainer a and b");
      const a: string = (await cri.runtime(
        "CreateContainer",
        containerConfig(podId, pod, "a", "trap 'exit 0' TERM; while :; do sleep 1; done"),
      )).container_id;
      ids.push(a);
      const b: string = (await cri.runtime(
        "CreateContainer",
        containerConfig(podId, pod, "b", "exec sleep 3601"),
      )).container_id;
      ids.push(b);
      await cri.runtime("StartContainer", { container_id: a });
      await cri.runtime("StartContainer", { container_id: b });

      ctx.step("no pause container: containerd's containers and tasks");
      for (const what of ["container", "task"]) {
        const ls = await c.ctr("-n", "k8s.io", what, "ls", "-q");
        assertEquals(ls.code, 0, `ctr ${what} ls: ${ls.stderr}`);
        const listed = ls.stdout.split("\n").map((l) => l.trim()).filter((l) => l);
        assert(!listed.includes(podId), `a ${what} of the pod's id ${podId}: ${listed}`);
        for (const id of [a, b]) assert(listed.includes(id), `${what} ${id} listed: ${listed}`);
      }
      assertEquals((await shimProcesses(podId)).length, 1, "one shim process for the pod");

      ctx.step("ExecSync probes in a and b");
      const inA = await probe(cri, a);
      const inB = await probe(cri, b);
      const hostBoot = (await Deno.readTextFile("/proc/sys/kernel/random/boot_id")).trim();
      assert(inA.bootId !== hostBoot, "the containers run in a VM (boot id not the host's)");
      assertEquals(inA.bootId, inB.bootId, "both containers run in one guest kernel");
      assertEquals(inA.ipc, inB.ipc, "one IPC namespace for the pod");
      assertEquals(inA.uts, inB.uts, "one UTS namespace for the pod");
      assertEquals([inA.hostname, inB.hostname], ["apipod", "apipod"], "the pod's hostname");
      assert(inA.ps.includes("sleep 3601"), `PID mode POD: a sees b's process: ${inA.ps}`);
      // Static sizing: default_vcpus + the pod's one CPU; default_memory + its 256 MiB.
      const vcpus = DEFAULT_VCPUS + 1;
      assertEquals([inA.nproc, inB.nproc], [String(vcpus), String(vcpus)], "the guest's vCPUs");
      const memKb = Number(/MemTotal:\s+(\d+) kB/.exec(inA.memTotal)?.[1]);
      // The kernel keeps some of the RAM for itself: more than the default
      // alone can give, no more than default + limit.
      assert(
        memKb > DEFAULT_MEMORY_MIB * 1024 &&
          memKb <= (DEFAULT_MEMORY_MIB + LIMIT_MEMORY_MIB) * 1024,
        `the guest's memory (${inA.memTotal}) is default_memory ${DEFAULT_MEMORY_MIB} MiB + ` +
          `the pod's ${LIMIT_MEMORY_MIB} MiB`,
      );

      ctx.step("StopContainer/RemoveContainer, StopPodSandbox, RemovePodSandbox");
      for (const id of [a, b]) await cri.runtime("StopContainer", { container_id: id, timeout: 5 });
      for (const id of [a, b]) await cri.runtime("RemoveContainer", { container_id: id });
      await cri.runtime("StopPodSandbox", { pod_sandbox_id: podId });
      const stopped = (await cri.runtime("PodSandboxStatus", { pod_sandbox_id: podId })).status;
      assertEquals(stopped.state, "SANDBOX_NOTREADY", "the stopped pod");
      await cri.runtime("RemovePodSandbox", { pod_sandbox_id: podId });
      removed = true;

      ctx.step("leak check");
      await until(
        `no shim for ${podId}`,
        async () => (await shimProcesses(podId)).length === 0 ? true : undefined,
        ctx.signal,
      );
      await assertPodGone(podId, ids, vmms, netnsBefore);
    } finally {
      if (!removed) {
        await cri.runtime("StopPodSandbox", { pod_sandbox_id: podId }).catch(() => {});
        await cri.runtime("RemovePodSandbox", { pod_sandbox_id: podId }).catch(() => {});
      }
    }
  });
}

async function crashScenario(ctx: VmTestContext, hv: Hv): Promise<void> {
  await withContainerd(ctx, hv, async (_c, cri) => {
    const suffix = crypto.randomUUID().slice(0, 8);
    const pod = sandboxConfig(suffix, "");
    const netnsBefore = await cniNetns();
    const vmmsBefore = await vmmPids();
    ctx.step("RunPodSandbox (the Sandbox API boots the VM)");
    const podId: string = (await cri.runtime("RunPodSandbox", {
      config: pod,
      runtime_handler: "kata",
    }, RUN_POD_S)).pod_sandbox_id;
    let removed = false;
    try {
      ctx.step("CreateContainer/StartContainer a");
      const a: string = (await cri.runtime(
        "CreateContainer",
        containerConfig(podId, pod, "a", "while :; do sleep 1; done"),
      )).container_id;
      await cri.runtime("StartContainer", { container_id: a });
      const vmms = (await vmmPids()).filter((p) => !vmmsBefore.includes(p));
      if (hv === "qemu") assert(vmms.length > 0, "no QEMU process for the pod");
      const shims = await shimProcesses(podId);
      assertEquals(shims.length, 1, `shim processes of ${podId}: ${shims}`);
      assert(await exists(`/run/kata/${podId}/state.json`), "the pod's state.json");

      ctx.step(`SIGKILL of shim ${shims[0]}; the pod to turn NOTREADY (WaitSandbox)`);
      Deno.kill(Number(shims[0]), "SIGKILL");
      let seen = "";
      await until(
        "the pod NOTREADY in CRI",
        async () => {
          seen = await cri.runtime("PodSandboxStatus", { pod_sandbox_id: podId })
            .then((r) => r.status?.state ?? "SANDBOX_READY", (err) => String(err));
          return seen === "SANDBOX_NOTREADY" ? true : undefined;
        },
        ctx.signal,
        500,
      ).catch((err) => {
        throw new Error(`${err.message}; PodSandboxStatus last said: ${seen}`);
      });
      ctx.step(`containerd's shim delete to clean /run/kata/${podId} up`);
      await until(
        `/run/kata/${podId} to go`,
        async () => (await exists(`/run/kata/${podId}`)) ? undefined : true,
        ctx.signal,
        500,
      );

      ctx.step("StopPodSandbox and RemovePodSandbox, as the kubelet does (retried)");
      let last = "";
      await until(
        "RemovePodSandbox of the crashed pod to succeed",
        async () => {
          try {
            await cri.runtime("StopPodSandbox", { pod_sandbox_id: podId });
            await cri.runtime("RemovePodSandbox", { pod_sandbox_id: podId });
            return true;
          } catch (err) {
            last = String(err);
            return undefined;
          }
        },
        ctx.signal,
        2000,
      ).catch((err) => {
        throw new Error(`${err.message}; last error: ${last}`);
      });
      removed = true;

      ctx.step("leak check");
      await until(
        "no VMM process of the crashed pod",
        async () => (await vmmPids()).some((p) => vmms.includes(p)) ? undefined : true,
        ctx.signal,
      );
      await assertPodGone(podId, [a], vmms, netnsBefore);
    } finally {
      if (!removed) {
        await cri.runtime("StopPodSandbox", { pod_sandbox_id: podId }).catch(() => {});
        await cri.runtime("RemovePodSandbox", { pod_sandbox_id: podId }).catch(() => {});
      }
    }
  });
}

/**
 * Registers the two tests of `hv`. Each call passes its own literal
 * `deadlineMs` values: scripts/test-vm sizes the file's test host from them.
 */
function sandboxApiTests(
  hv: Hv,
  pod: { deadlineMs: number },
  crash: { deadlineMs: number; unverified?: string },
): void {
  vmTest({
    name: `Sandbox API pod on ${hv}: no pause container, one guest kernel, the pod's limits ` +
      "size the VM, no leaks",
    ignore: NO_PEERS,
    deadlineMs: pod.deadlineMs,
  }, (ctx) => podScenario(ctx, hv));
  vmTest({
    name: `Sandbox API pod on ${hv}: a SIGKILLed shim is seen through WaitSandbox and ` +
      "containerd's clean-up leaves nothing",
    ignore: NO_PEERS,
    deadlineMs: crash.deadlineMs,
    unverified: crash.unverified,
  }, (ctx) => crashScenario(ctx, hv));
}

sandboxApiTests("dragonball", { deadlineMs: 780_000 }, { deadlineMs: 600_000 });
sandboxApiTests("qemu", { deadlineMs: 780_000 }, { deadlineMs: 600_000 });
