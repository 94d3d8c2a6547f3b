/**
 * The CRI behaviours beyond the pod scenario (issue 25, third check), written
 * once and run for any runtime handler on one containerd, so that containerd's
 * runc shim (handler `runc`) and ours (handler `kata`) can be compared: exec
 * with a terminal and stdin (what `kubectl exec -it` does; CRI's ids are 64
 * characters), attach to a container started with tty and stdin, port
 * forwarding, ContainerStats, ReopenContainerLog, ContainerStatus with
 * verbose info, UpdateContainerResources and an OOM kill.
 *
 * Each check returns what a CRI user observes, reduced to values that do not
 * depend on the runtime (no pids, ids or timestamps), so a test compares two
 * handlers with one assertEquals per check; `detail` keeps the raw evidence.
 * @module
 */
import { type Containerd, IMAGE } from "../containerd/harness.ts";
import { CriClient } from "./cri_client.ts";
import { ChannelStream, ERROR, execExit, STDIN, STDOUT } from "./cri_stream.ts";
import { assertPodLeftNothing, cleanUpPod, cniNetns, waitFor } from "./pod_checks.ts";
import { assertEquals } from "../assert.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** The checks, in the order they run. */
export const BEHAVIOURS = [
  "execTty",
  "attach",
  "portForward",
  "stats",
  "reopenLog",
  "statusVerbose",
  "updateResources",
  "oom",
] as const;
/** One check's name. */
export type Behaviour = typeof BEHAVIOURS[number];

/** What one check observed: `seen` is compared across handlers, `detail` is evidence. */
export interface Observation {
  seen: Record<string, unknown>;
  detail: string;
}

/** Options of one run. */
export interface BehaviourOptions {
  /** The runtime handler: `runc` (containerd's runc shim) or `kata` (ours). */
  handler: string;
  /** Seconds one CRI call or stream wait may take (slow nested guests need more). */
  callTimeout?: number;
  /** Seconds RunPodSandbox may take (it boots a VM). */
  runSandboxTimeout?: number;
  /** Records a step, for post-mortems of slow runs. */
  progress?: (step: string) => void;
}

const MiB = 1024 * 1024;
/** The working container's memory limit at creation, then after UpdateContainerResources. */
const MEMORY_BEFORE = 256 * MiB;
const MEMORY_AFTER = 200 * MiB;
/** The OOM container's limit: its one `dd` buffer is twice that. */
const OOM_LIMIT = 32 * MiB;
const PORT = 8080;
/** Reads the memory limit of the cgroup a process is in (v2 first, then v1). */
const READ_LIMIT =
  "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes";

/**
 * Runs every check in one pod of `opts.handler` on `ctrd` (started with
 * `cri`); removes the pod and checks that nothing of it is left (no process
 * naming it, no CNI netns, mount, `/run/kata` state or cgroup), also when a
 * check fails. A check that throws is observed as `{ failed: message }`.
 */
export async function runBehaviours(
  ctrd: Containerd,
  opts: BehaviourOptions,
): Promise<Map<Behaviour, Observation>> {
  const step = opts.progress ?? (() => {});
  const timeout = opts.callTimeout ?? 60;
  const cri = new CriClient(ctrd.address, timeout);
  const suffix = crypto.randomUUID().slice(0, 8);
  const logDir = `${ctrd.dir}/logs-${opts.handler}-${suffix}`;
  const cgroupParent = `rts-crib-${suffix}`;
  await Deno.mkdir(logDir, { recursive: true });
  const netnsBefore = await cniNetns();
  const sandboxConfig = {
    metadata: { name: `crib-${suffix}`, uid: `uid-${suffix}`, namespace: "default", attempt: 0 },
    hostname: "crib",
    log_directory: logDir,
    linux: { cgroup_parent: `/${cgroupParent}/pod${suffix}` },
  };
  await waitFor("the busybox image in the CRI image store", 30, async () => {
    return (await cri.image("ImageStatus", { image: { image: IMAGE } })).image ? true : undefined;
  });
  step(`RunPodSandbox (${opts.handler})`);
  const podId: string = (await cri.runtime("RunPodSandbox", {
    config: sandboxConfig,
    runtime_handler: opts.handler,
  }, opts.runSandboxTimeout ?? timeout)).pod_sandbox_id;
  const results = new Map<Behaviour, Observation>();
  const ids: string[] = [podId];
  let removed = false;
  try {
    const create = async (name: string, config: Json) => {
      step(`CreateContainer ${name}`);
      const id: string = (await cri.runtime("CreateContainer", {
        pod_sandbox_id: podId,
        config: {
          metadata: { name, attempt: 0 },
          image: { image: IMAGE },
          log_path: `${name}.log`,
          ...config,
        },
        sandbox_config: sandboxConfig,
      })).container_id;
      ids.push(id);
      await cri.runtime("StartContainer", { container_id: id });
      return id;
    };
    const memory = (bytes: number) => ({ resources: { memory_limit_in_bytes: bytes } });
    const shell = await create("shell", { command: ["/bin/sh"], stdin: true, tty: true });
    const work = await create("work", {
      command: [
        "/bin/sh",
        "-c",
        `(while :; do echo pong | nc -l -p ${PORT}; done) & ` +
        "i=0; while :; do echo tick-$i; i=$((i+1)); sleep 0.2; done",
      ],
      linux: memory(MEMORY_BEFORE),
    });
    const ctx: CheckContext = { cri, podId, shell, work, logDir, timeout, create, memory };
    for (const name of BEHAVIOURS) {
      step(name);
      results.set(
        name,
        await CHECKS[name](ctx).catch((err) => ({
          seen: { failed: String(err?.message ?? err).split("\n")[0] },
          detail: String(err?.stack ?? err),
        })),
      );
    }

    step("StopPodSandbox, RemovePodSandbox");
    await cri.runtime("StopPodSandbox", { pod_sandbox_id: podId });
    await cri.runtime("RemovePodSandbox", { pod_sandbox_id: podId });
    removed = true;
    step("leak check");
    await waitFor(`no process naming pod ${podId}`, 30, async () => {
      return (await processesNaming(podId)).length === 0 ? true : undefined;
    });
    await assertPodLeftNothing(ids[0], ids.slice(1), netnsBefore);
  } finally {
    await cleanUpPod(cri, podId, cgroupParent, removed);
  }
  return results;
}

/** Pids whose command line names `id` (a shim of either kind, a runtime left behind). */
async function processesNaming(id: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    if (cmd.includes(id)) out.push(e.name);
  }
  return out;
}

interface CheckContext {
  cri: CriClient;
  podId: string;
  /** A container started with tty and stdin, running `sh`. */
  shell: string;
  /** A container serving PORT and printing a tick every 0.2 s, memory limit MEMORY_BEFORE. */
  work: string;
  logDir: string;
  timeout: number;
  create(name: string, config: Json): Promise<string>;
  memory(bytes: number): Json;
}

const CHECKS: Record<Behaviour, (c: CheckContext) => Promise<Observation>> = {
  /** `kubectl exec -it`: a terminal, the input echoed, the exit code from the error channel. */
  async execTty(c) {
    const { url } = await c.cri.runtime("Exec", {
      container_id: c.work,
      cmd: ["/bin/sh"],
      tty: true,
      stdin: true,
      stdout: true,
    });
    const s = await ChannelStream.open(url, c.timeout);
    try {
      s.send(STDIN, "tty; echo exec-$((6*7))\n");
      const out = await s.waitFor(STDOUT, (t) => t.includes("exec-42\r\n"), "exec-42", c.timeout);
      s.send(STDIN, "exit 7\n");
      await s.end(c.timeout);
      return {
        seen: {
          containerIdLength: c.work.length,
          tty: /\/dev\/pts\/\d+\r\n/.test(out),
          inputEchoed: out.includes("echo exec-$((6*7))"),
          exit: execExit(s.text(ERROR)),
        },
        detail: s.describe(),
      };
    } finally {
      s.close();
    }
  },

  /** `kubectl attach -it`: what is typed reaches the container's own shell, its answer comes back. */
  async attach(c) {
    const { url } = await c.cri.runtime("Attach", {
      container_id: c.shell,
      stdin: true,
      tty: true,
      stdout: true,
    });
    const s = await ChannelStream.open(url, c.timeout);
    try {
      s.send(STDIN, "echo attach-$((6*7)); tty\n");
      const out = await s.waitFor(
        STDOUT,
        (t) => /attach-42\r\n.*\r\n/.test(t),
        "attach-42",
        c.timeout,
      );
      return {
        seen: {
          answer: out.includes("attach-42\r\n"),
          tty: /\/dev\/pts\/\d+\r\n/.test(out) || out.includes("/dev/console\r\n"),
          inputEchoed: out.includes("echo attach-$((6*7))"),
        },
        detail: s.describe(),
      };
    } finally {
      s.close();
    }
  },

  /** `kubectl port-forward`: the data channel carries what the container's listener sends. */
  async portForward(c) {
    const { url } = await c.cri.runtime("PortForward", { pod_sandbox_id: c.podId, port: [PORT] });
    const s = await ChannelStream.open(url, c.timeout);
    try {
      // Channel 0 carries data, 1 errors; the server opens each with the port (2 bytes, LE).
      const prefixed = (ch: number) => s.bytes(ch).length > 2;
      await s.waitFor(0, () => prefixed(0) || prefixed(1), "data or an error", c.timeout)
        .catch(() => {});
      const port = s.bytes(0).length >= 2 ? s.bytes(0)[0] | (s.bytes(0)[1] << 8) : undefined;
      const data = new TextDecoder().decode(s.bytes(0).subarray(2)).trim();
      const error = new TextDecoder().decode(s.bytes(1).subarray(2));
      return {
        seen: data ? { port, data } : {
          port,
          data,
          error: error !== "",
          errorNamesPort: error.includes(`${PORT}`),
          refused: error.includes("connection refused"),
        },
        detail: `${s.describe()}; error: ${error}`,
      };
    } finally {
      s.close();
    }
  },

  /** ContainerStats: CPU time used and a working set, both non-zero. */
  async stats(c) {
    let last: Json;
    const seen = await waitFor("non-zero stats", c.timeout, async () => {
      last = (await c.cri.runtime("ContainerStats", { container_id: c.work })).stats;
      const cpu = Number(last?.cpu?.usage_core_nano_seconds?.value ?? 0);
      const mem = Number(last?.memory?.working_set_bytes?.value ?? 0);
      return cpu > 0 && mem > 0
        ? { cpu: true, memory: true, id: last.attributes?.id === c.work }
        : undefined;
    }).catch(() => ({
      cpu: Number(last?.cpu?.usage_core_nano_seconds?.value ?? 0) > 0,
      memory: Number(last?.memory?.working_set_bytes?.value ?? 0) > 0,
      id: last?.attributes?.id === c.work,
    }));
    return { seen, detail: JSON.stringify(last) };
  },

  /** ReopenContainerLog after the log was moved away: new lines go to a new file, none to the old. */
  async reopenLog(c) {
    const log = `${c.logDir}/work.log`;
    await waitFor("a tick in work.log", c.timeout, async () => {
      return (await Deno.readTextFile(log).catch(() => "")).includes("tick-") ? true : undefined;
    });
    await Deno.rename(log, `${log}.1`);
    await c.cri.runtime("ReopenContainerLog", { container_id: c.work });
    const fresh = await waitFor("a tick in the reopened work.log", c.timeout, async () => {
      const t = await Deno.readTextFile(log).catch(() => "");
      return / stdout F tick-\d+\n/.test(t) ? t : undefined;
    }).catch(() => "");
    const oldSize = (await Deno.stat(`${log}.1`)).size;
    await new Promise((r) => setTimeout(r, 1000));
    return {
      seen: {
        newFileGetsLines: fresh !== "",
        oldFileStopped: (await Deno.stat(`${log}.1`)).size === oldSize,
      },
      detail: `new file: ${fresh.slice(0, 200)}`,
    };
  },

  /** ContainerStatus with verbose: the info map's `info` JSON and the fields a user reads there. */
  async statusVerbose(c) {
    const r = await c.cri.runtime("ContainerStatus", { container_id: c.work, verbose: true });
    const info = r.info?.info ? JSON.parse(r.info.info) : {};
    return {
      seen: {
        state: r.status?.state,
        infoKeys: Object.keys(r.info ?? {}).sort(),
        pid: Number(info.pid) > 0,
        sandboxId: info.sandboxID === c.podId,
        specProcess: Array.isArray(info.runtimeSpec?.process?.args),
        specMemory: Number(info.runtimeSpec?.linux?.resources?.memory?.limit) === MEMORY_BEFORE,
      },
      detail: `info keys: ${Object.keys(info).sort().join(",")}`,
    };
  },

  /** UpdateContainerResources: the new memory limit in the container's own cgroup. */
  async updateResources(c) {
    const read = async () =>
      (await c.cri.execSync(c.work, ["sh", "-c", READ_LIMIT], c.timeout)).stdout.trim();
    const before = await read();
    await c.cri.runtime("UpdateContainerResources", {
      container_id: c.work,
      linux: { memory_limit_in_bytes: MEMORY_AFTER },
    });
    const after = await read();
    const st = await c.cri.runtime("ContainerStatus", { container_id: c.work, verbose: true });
    const spec = st.info?.info ? JSON.parse(st.info.info).runtimeSpec : undefined;
    return {
      seen: {
        before: Number(before),
        after: Number(after),
        specMemory: Number(spec?.linux?.resources?.memory?.limit),
      },
      detail: `cgroup before ${before}, after ${after}`,
    };
  },

  /** A container over its memory limit: exited, reason OOMKilled, exit code 137. */
  async oom(c) {
    const id = await c.create("oom", {
      command: ["/bin/sh", "-c", "sleep 2; exec dd if=/dev/zero of=/dev/null bs=64M count=1"],
      linux: c.memory(OOM_LIMIT),
    });
    const st = await waitFor("the OOM container to exit", c.timeout, async () => {
      const s = (await c.cri.runtime("ContainerStatus", { container_id: id })).status;
      return s.state === "CONTAINER_EXITED" ? s : undefined;
    });
    return {
      seen: { state: st.state, reason: st.reason, exitCode: st.exit_code ?? 0 },
      detail: JSON.stringify({ reason: st.reason, message: st.message }),
    };
  },
};

/** What every check observes with containerd's runc shim (the reference). */
export const RUNC_OBSERVES: Record<Behaviour, Record<string, unknown>> = {
  execTty: { containerIdLength: 64, tty: true, inputEchoed: true, exit: { exitCode: 7 } },
  attach: { answer: true, tty: true, inputEchoed: true },
  portForward: { port: PORT, data: "pong" },
  stats: { cpu: true, memory: true, id: true },
  reopenLog: { newFileGetsLines: true, oldFileStopped: true },
  statusVerbose: {
    state: "CONTAINER_RUNNING",
    infoKeys: ["info"],
    pid: true,
    sandboxId: true,
    specProcess: true,
    specMemory: true,
  },
  updateResources: { before: MEMORY_BEFORE, after: MEMORY_AFTER, specMemory: MEMORY_AFTER },
  oom: { state: "CONTAINER_EXITED", reason: "OOMKilled", exitCode: 137 },
};

/**
 * What port forwarding observes in a VM pod (ours and upstream Kata's): no
 * data, and an error on the port's error channel naming the port and the
 * refused connection (kata-containers issue 1693). containerd's
 * CRI dials the port inside the pod's network namespace on the host, and the
 * listener is in the guest, behind the VM's NIC.
 */
export const VM_PORT_FORWARD = {
  port: PORT,
  data: "",
  error: true,
  errorNamesPort: true,
  refused: true,
};

/** Documented differences: per check, what ours observes instead of runc's result. */
export type Differences = Partial<Record<Behaviour, Record<string, unknown>>>;

/**
 * The checks where `observed` (of handler `label`) saw other than what runc's
 * shim shows (or, for the checks `differs` names, than that), each with its
 * evidence.
 */
export function differences(
  label: string,
  observed: Map<Behaviour, Observation>,
  differs: Differences = {},
): string[] {
  const wrong: string[] = [];
  for (const name of BEHAVIOURS) {
    const o = observed.get(name);
    const want = differs[name] ?? RUNC_OBSERVES[name];
    if (JSON.stringify(o?.seen) !== JSON.stringify(want)) {
      wrong.push(
        `${name}, ${label}: ${JSON.stringify(o?.seen)}, want ${
          JSON.stringify(want)
        } (${o?.detail})`,
      );
    }
  }
  return wrong;
}

/**
 * Asserts, check by check, that `ours` observed what `runc` did and `runc`
 * what a kubelet expects; every mismatch is listed at once with its evidence.
 * `differs` names the checks where ours documentedly differs (README, "Using
 * it from Kubernetes") and what ours observes there instead.
 */
export function assertSameAsRunc(
  runc: Map<Behaviour, Observation>,
  ours: Map<Behaviour, Observation>,
  differs: Differences = {},
): void {
  const wrong = [...differences("runc", runc), ...differences("ours", ours, differs)];
  assertEquals(wrong, [], `CRI behaviours that differ:\n${wrong.join("\n")}`);
}
