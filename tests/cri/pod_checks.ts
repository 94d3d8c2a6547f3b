/**
 * The pod scenario of issue 12, shared by the LinuxContainer test
 * (tests/cri/pod_linux_test.ts) and the VM tests (tests/vm/pod_cri_test.ts):
 * a pod from containerd's CRI plugin with two busybox app containers, checked
 * through ExecSync, ContainerStatus/Stats, the CRI log files, a TCP connection
 * from the host to the pod IP, stop/remove and a leak check.
 * @module
 */
import { assert, assertEquals } from "../assert.ts";
import { type Containerd, IMAGE, shimProcesses } from "../containerd/harness.ts";
import { isContainerd2 } from "../containerd/versions.ts";
import { CriClient, CriError } from "./cri_client.ts";

/** Options of one pod run. */
export interface PodScenarioOptions {
  /** The runtime handler (`kata`). */
  handler: string;
  /** The pod's PID namespace mode: `CONTAINER` (Kubernetes default) or `POD` (shareProcessNamespace). */
  pidMode: "CONTAINER" | "POD";
  /** Whether the pod runs in a VM (boot id and one-VM checks). */
  vm: boolean;
  /** Seconds one CRI call may take (slow nested guests need more). */
  callTimeout?: number;
  /** Seconds RunPodSandbox may take (it boots the VM); `callTimeout` when unset. */
  runSandboxTimeout?: number;
  /** Records a step, for post-mortems of slow runs. */
  progress?: (step: string) => void;
}

// deno-lint-ignore no-explicit-any
type Json = any;

const TCP_PORT = 8080;

/** Polls `probe` every 200 ms until it returns a value; fails after `seconds` naming `what`. */
export async function waitFor<T>(
  what: string,
  seconds: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const end = Date.now() + seconds * 1000;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`Timed out after ${seconds} s waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** Network namespaces the CRI plugin made (it names them cni-<uuid>). */
export async function cniNetns(): Promise<Set<string>> {
  const out = new Set<string>();
  try {
    for await (const e of Deno.readDir("/var/run/netns")) {
      if (e.name.startsWith("cni-")) out.add(e.name);
    }
  } catch {
    // no netns directory yet
  }
  return out;
}

/** Every cgroup directory named `name` directly under a v1 hierarchy or the v2 root. */
async function cgroupDirs(name: string): Promise<string[]> {
  const out: string[] = [];
  const base = "/sys/fs/cgroup";
  const roots = [base];
  for await (const e of Deno.readDir(base)) {
    if (e.isDirectory) roots.push(`${base}/${e.name}`);
  }
  for (const r of roots) {
    if (await Deno.stat(`${r}/${name}`).then(() => true, () => false)) out.push(`${r}/${name}`);
  }
  return out;
}

/**
 * Removes the CRI cgroup parent the scenario used, deepest first, once it is
 * empty: the runtime removes the containers' cgroups as they are deleted.
 */
export async function removeCgroupParent(name: string): Promise<void> {
  for (let i = 0; i < 50 && (await cgroupDirs(name)).length > 0; i++) {
    await removeCgroupTree(name);
    await new Promise((r) => setTimeout(r, 200));
  }
  const left = await cgroupDirs(name);
  assertEquals(left, [], "the pod's cgroups are removed");
}

async function removeCgroupTree(name: string): Promise<void> {
  for (const dir of await cgroupDirs(name)) {
    const subdirs: string[] = [];
    const walk = async (d: string) => {
      for await (const e of Deno.readDir(d)) {
        if (e.isDirectory) {
          subdirs.push(`${d}/${e.name}`);
          await walk(`${d}/${e.name}`);
        }
      }
    };
    await walk(dir).catch(() => {});
    for (const d of subdirs.reverse()) await Deno.remove(d).catch(() => {});
    await Deno.remove(dir).catch(() => {});
  }
}

/**
 * After a pod's removal: no shim for it, and no state directory, mount, new
 * CNI netns or tap device left for the pod or its containers `ids`.
 */
export async function assertPodLeftNothing(
  podId: string,
  ids: string[],
  netnsBefore: Set<string>,
): Promise<void> {
  await waitFor(
    `no shim for ${podId}`,
    20,
    async () => (await shimProcesses(podId)).length === 0 ? true : undefined,
  );
  for (const id of [podId, ...ids]) {
    assert(!await Deno.stat(`/run/kata/${id}`).then(() => true, () => false), `/run/kata/${id}`);
    const mounts = (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
      .filter((l) => l.includes(id));
    assertEquals(mounts, [], `mounts left for ${id}`);
  }
  const netnsLeft = [...await cniNetns()].filter((n) => !netnsBefore.has(n));
  assertEquals(netnsLeft, [], "pod network namespace removed");
  const taps = (await Deno.readTextFile("/proc/net/dev")).split("\n")
    .filter((l) => l.includes(podId.slice(0, 8)));
  assertEquals(taps, [], "no tap device left");
}

/** Separates the reads of one probe exec (a line no read prints). */
const PROBE_SEP = "--rts-probe--";

/**
 * Runs the whole pod scenario (issue 12 checks 1-6) against `ctrd` (started
 * with `cri`). Everything the pod made is removed before it returns, also
 * when a check fails.
 */
export async function runPodScenario(ctrd: Containerd, opts: PodScenarioOptions): Promise<void> {
  const step = opts.progress ?? (() => {});
  const timeout = opts.callTimeout ?? 120;
  const cri = new CriClient(ctrd.address, timeout);
  const suffix = crypto.randomUUID().slice(0, 8);
  const logDir = `${ctrd.dir}/pod-logs-${suffix}`;
  const hostDir = `${ctrd.dir}/hostdir-${suffix}`;
  const cgroupParent = `rts-cri-${suffix}`;
  await Deno.mkdir(logDir, { recursive: true });
  await Deno.mkdir(hostDir, { recursive: true });
  await Deno.writeTextFile(`${hostDir}/data.txt`, "host-data\n");
  const netnsBefore = await cniNetns();
  const ns = { network: "POD", pid: opts.pidMode, ipc: "POD" };
  const sandboxConfig = {
    metadata: { name: `pod-${suffix}`, uid: `uid-${suffix}`, namespace: "default", attempt: 0 },
    hostname: "podhost",
    log_directory: logDir,
    dns_config: { servers: ["192.0.2.53"], searches: ["pods.example"], options: ["ndots:2"] },
    labels: { app: "rts-cri-test" },
    linux: {
      cgroup_parent: `/${cgroupParent}/pod${suffix}`,
      security_context: { namespace_options: ns },
    },
  };

  // Ready before the pod: the CRI plugin learns of imported images from events.
  await waitFor("the busybox image in the CRI image store", 30, async () => {
    const r = await cri.image("ImageStatus", { image: { image: IMAGE } });
    return r.image ? true : undefined;
  });

  step("RunPodSandbox");
  const podId: string = (await cri.runtime("RunPodSandbox", {
    config: sandboxConfig,
    runtime_handler: opts.handler,
  }, opts.runSandboxTimeout ?? timeout)).pod_sandbox_id;
  let removed = false;
  try {
    const status = (await cri.runtime("PodSandboxStatus", { pod_sandbox_id: podId })).status;
    assertEquals(status.state ?? "SANDBOX_READY", "SANDBOX_READY", "pod state");
    const podIp: string = status.network?.ip ?? "";
    assert(/^10\.213\.\d+\.\d+$/.test(podIp), `pod IP from CNI, got ${JSON.stringify(status)}`);

    const container = (name: string, script: string, mounts: Json[] = []) => ({
      pod_sandbox_id: podId,
      config: {
        metadata: { name, attempt: 0 },
        image: { image: IMAGE },
        command: ["/bin/sh", "-c", script],
        log_path: `${name}.log`,
        mounts,
        linux: { security_context: { namespace_options: ns } },
      },
      sandbox_config: sandboxConfig,
    });
    step("CreateContainer a");
    // a ends on SIGTERM (its trap); b ignores SIGTERM and needs SIGKILL.
    const a: string = (await cri.runtime(
      "CreateContainer",
      container(
        "a",
        "echo hello-from-a; trap 'exit 0' TERM; while :; do sleep 1; done",
        [{ container_path: "/hostdir", host_path: hostDir, readonly: true }],
      ),
    )).container_id;
    step("CreateContainer b");
    const b: string = (await cri.runtime(
      "CreateContainer",
      container(
        "b",
        `trap '' TERM; echo hello-from-b; while :; do echo pong | nc -l -p ${TCP_PORT}; done`,
      ),
    )).container_id;
    step("StartContainer");
    await cri.runtime("StartContainer", { container_id: a });
    await cri.runtime("StartContainer", { container_id: b });

    // 2. ExecSync checks. One exec per container reads everything (`set -e`:
    // a failing read fails the exec with its stderr), since each ExecSync
    // costs seconds in a nested guest; a third checks a non-zero exit code.
    step("ExecSync checks");
    const probe = async (id: string, extra: string[]) => {
      const reads = [
        "hostname",
        "cat /etc/hostname",
        "cat /etc/resolv.conf",
        "cat /etc/hosts",
        "ip -o -4 addr show dev eth0",
        "ip -o link | cut -d: -f2 | sort",
        "readlink /proc/self/ns/ipc",
        "cat /proc/sys/kernel/random/boot_id",
        ...extra,
      ];
      // Echoed in two quoted halves, so the script's own text (which `ps`
      // prints) never holds the separator.
      const echoSep = `echo '${PROBE_SEP.slice(0, 6)}''${PROBE_SEP.slice(6)}'`;
      const script = `set -e; ${reads.map((c) => `${c}; ${echoSep}`).join("; ")}`;
      const r = await cri.execSync(id, ["sh", "-c", script], timeout);
      assertEquals(r.exitCode, 0, `the probe exec in ${id}: ${r.stderr}`);
      const parts = r.stdout.split(`${PROBE_SEP}\n`).map((p) => p.trim());
      assertEquals(parts.length, reads.length + 1, `probe output of ${id}: ${r.stdout}`);
      const [hostname, etcHostname, resolv, hosts, addr, links, ipcNs, bootId, ...rest] = parts;
      assertEquals(hostname, "podhost", `hostname in ${id}`);
      assertEquals(etcHostname, "podhost", `/etc/hostname in ${id}`);
      assert(resolv.includes("nameserver 192.0.2.53"), `resolv.conf of ${id}: ${resolv}`);
      assert(resolv.includes("pods.example"), `resolv.conf search of ${id}: ${resolv}`);
      assert(hosts.includes("localhost"), `/etc/hosts of ${id}: ${hosts}`);
      assert(addr.includes(` ${podIp}/`), `eth0 of ${id} carries ${podIp}: ${addr}`);
      return { links, ipcNs, bootId, rest };
    };
    const inA = await probe(a, [
      "echo shm-from-a > /dev/shm/shared",
      "cat /hostdir/data.txt",
      "ps -o args",
    ]);
    const inB = await probe(b, ["cat /dev/shm/shared"]);
    assertEquals(inA.links, inB.links, "both containers see the same interfaces");
    assertEquals(inA.ipcNs, inB.ipcNs, "one IPC namespace");
    assertEquals(inB.rest[0], "shm-from-a", "/dev/shm shared");
    assertEquals(inA.rest[1], "host-data", "host directory");
    const three = await cri.execSync(a, ["sh", "-c", "exit 3"], timeout);
    assertEquals(three.exitCode, 3, "exit code of sh -c 'exit 3'");
    const psA = inA.rest[2];
    if (opts.pidMode === "POD") {
      assert(psA.includes("nc -l -p"), `with PID mode POD, a sees b's processes: ${psA}`);
    } else {
      assert(!psA.includes("nc -l -p"), `with PID mode CONTAINER, a sees only its own: ${psA}`);
    }
    if (opts.vm) {
      const hostBoot = (await Deno.readTextFile("/proc/sys/kernel/random/boot_id")).trim();
      assert(
        inA.bootId !== hostBoot,
        "the containers run in a VM (boot id differs from the host's)",
      );
      assertEquals(inA.bootId, inB.bootId, "both containers share one VM");
    }
    assertEquals((await shimProcesses(podId)).length, 1, "one shim process for the pod");
    // containerd 2.x's `sandboxer = "shim"`: the shim's Sandbox service holds
    // the pod, so no pause (sandbox) container may exist; otherwise one must.
    const shimSandboxer = ctrd.criSandboxer === "shim";
    const listed = async (what: "container" | "task") =>
      (await ctrd.ctr("-n", "k8s.io", what, "ls", "-q")).stdout.split("\n").map((l) => l.trim());
    for (const what of ["container", "task"] as const) {
      assertEquals(
        (await listed(what)).includes(podId),
        !shimSandboxer,
        shimSandboxer
          ? `no pause ${what} with the shim sandboxer`
          : `the pod's pause ${what} exists`,
      );
      for (const id of [a, b]) assert((await listed(what)).includes(id), `${what} ${id} listed`);
    }
    const podCgroups = await cgroupDirs(`${cgroupParent}/pod${suffix}`);
    assert(podCgroups.length > 0, `the pod's cgroup follows cgroup_parent /${cgroupParent}`);

    // 3. The pod IP answers from the host.
    step("TCP to the pod IP");
    const answer = await waitFor(`a TCP answer from ${podIp}:${TCP_PORT}`, 30, async () => {
      const conn = await Deno.connect({ hostname: podIp, port: TCP_PORT });
      try {
        const buf = new Uint8Array(64);
        const n = await conn.read(buf);
        return n ? new TextDecoder().decode(buf.subarray(0, n)) : undefined;
      } finally {
        conn.close();
      }
    });
    assertEquals(answer.trim(), "pong", "answer from the pod");

    // 4. Status, stats, logs.
    step("ContainerStatus/Stats, logs");
    for (const [id, name] of [[a, "a"], [b, "b"]]) {
      const st = (await cri.runtime("ContainerStatus", { container_id: id })).status;
      assertEquals(st.state, "CONTAINER_RUNNING", `state of ${name}`);
      assertEquals(st.log_path, `${logDir}/${name}.log`, `log path of ${name}`);
      const stats = (await cri.runtime("ContainerStats", { container_id: id })).stats;
      assertEquals(stats.attributes?.id, id, `stats of ${name}`);
      assert(stats.memory !== undefined || stats.cpu !== undefined, `stats of ${name}: cpu/memory`);
      const line = await waitFor(`hello-from-${name} in ${name}.log`, 15, async () => {
        const text = await Deno.readTextFile(`${logDir}/${name}.log`).catch(() => "");
        return text.includes(`hello-from-${name}`) ? text : undefined;
      });
      assert(/ stdout F hello-from-/.test(line), `CRI log format: ${line}`);
    }

    // 5. Stop and remove.
    step("StopContainer");
    await cri.runtime("StopContainer", { container_id: a, timeout: 10 });
    const stA = (await cri.runtime("ContainerStatus", { container_id: a })).status;
    assertEquals(stA.state, "CONTAINER_EXITED", "a stopped");
    assertEquals(stA.exit_code ?? 0, 0, "a ended on SIGTERM through its trap");
    const t0 = Date.now();
    await cri.runtime("StopContainer", { container_id: b, timeout: 2 });
    const stB = (await cri.runtime("ContainerStatus", { container_id: b })).status;
    assertEquals(stB.state, "CONTAINER_EXITED", "b stopped");
    assertEquals(stB.exit_code, 137, "b needed SIGKILL after the timeout");
    assert(Date.now() - t0 >= 1900, "SIGKILL came only after the 2 s timeout");
    step("RemoveContainer");
    await cri.runtime("RemoveContainer", { container_id: a });
    await cri.runtime("RemoveContainer", { container_id: b });
    step("StopPodSandbox");
    await cri.runtime("StopPodSandbox", { pod_sandbox_id: podId });

    // 6. Bad input: the pod is stopped now, and a name that is no pod.
    step("bad input");
    const before = await ctrd.ctr("-n", "k8s.io", "container", "ls", "-q");
    // containerd 2.x's CRI no longer refuses a container in a stopped pod (it
    // asks the sandbox controller for the pod's pid, not its state), whatever
    // the runtime: only a name that is no pod is bad input there.
    const stoppedPodRefused = !isContainerd2(ctrd.version);
    for (const bad of [...stoppedPodRefused ? [podId] : [], `no-such-pod-${suffix}`]) {
      const err = await cri.runtime("CreateContainer", {
        ...container("c", "true"),
        pod_sandbox_id: bad,
      }).then(() => undefined, (e) => e);
      assert(err instanceof CriError, `CreateContainer in ${bad} must fail`);
      assert(err.message.includes(bad), `error names ${bad}: ${err.message}`);
    }
    const after = await ctrd.ctr("-n", "k8s.io", "container", "ls", "-q");
    assertEquals(after.stdout, before.stdout, "a failed CreateContainer leaves no container");

    step("RemovePodSandbox");
    await cri.runtime("RemovePodSandbox", { pod_sandbox_id: podId });
    removed = true;

    step("leak check");
    await assertPodLeftNothing(podId, [a, b], netnsBefore);
    assertEquals(await Deno.readTextFile(`${hostDir}/data.txt`), "host-data\n", "host dir intact");
  } finally {
    await cleanUpPod(cri, podId, cgroupParent, removed);
  }
}

/**
 * The end of a pod run: stops and removes the pod unless the run `removed`
 * it, then removes the CRI cgroup parent it used. A cgroup left behind fails
 * only a run that removed its pod: a failure before must not be masked.
 */
export async function cleanUpPod(
  cri: CriClient,
  podId: string,
  cgroupParent: string,
  removed: boolean,
): Promise<void> {
  if (!removed) {
    await cri.runtime("StopPodSandbox", { pod_sandbox_id: podId }).catch(() => {});
    await cri.runtime("RemovePodSandbox", { pod_sandbox_id: podId }).catch(() => {});
  }
  await removeCgroupParent(cgroupParent).catch((err) => {
    if (removed) throw err;
  });
}
