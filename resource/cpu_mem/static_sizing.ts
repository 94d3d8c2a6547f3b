/**
 * Static sandbox sizing (`[runtime] static_sandbox_resource_mgmt`), as
 * runtime-rs's initial size manager does it: the VM is booted with the
 * configured default vCPUs and memory plus what the workload asks for, since
 * such a sandbox never hotplugs later. A pod's ask comes from the pod-level
 * CRI annotations containerd puts on its sandbox (pause) container, or, under
 * containerd's Sandbox API, from the pod's own resources (the same four
 * numbers, {@link podSandboxAnnotations}); a plain `ctr run` container is its
 * own sandbox and asks with its `linux.resources`.
 * @module
 */
import { InvalidArgumentError } from "../../common/errors.ts";

/** containerd CRI's pod-level resource annotations on the sandbox spec. */
export const SANDBOX_CPU_QUOTA = "io.kubernetes.cri.sandbox-cpu-quota";
export const SANDBOX_CPU_PERIOD = "io.kubernetes.cri.sandbox-cpu-period";
export const SANDBOX_CPU_SHARES = "io.kubernetes.cri.sandbox-cpu-shares";
export const SANDBOX_MEMORY = "io.kubernetes.cri.sandbox-memory";
/** containerd CRI's container-type annotation (its value "sandbox" marks a pod's sandbox). */
const CRI_CONTAINER_TYPE = "io.kubernetes.cri.container-type";

/** Kubernetes gives one CPU 1024 shares. */
const SHARES_PER_CPU = 1024;
const MIB = 1024 * 1024;

/** What the workload asks for on top of the VM's defaults. */
interface WorkloadSize {
  /** vCPUs (may be fractional: quota / period). */
  vcpus: number;
  /** Memory in MiB. */
  memoryMib: number;
}

/** The VM size after static sizing; `capped` when a maximum cut it. */
interface VmSize {
  vcpus: number;
  memoryMib: number;
  capped: boolean;
}

/** A pod's limits in CRI's LinuxContainerResources units (0 when unset). */
interface PodLimits {
  cpuPeriod: number;
  cpuQuota: number;
  cpuShares: number;
  memoryLimitInBytes: number;
}

function num(v: unknown, what: string, fallback = 0): number {
  if (v === undefined || v === null || v === "") return fallback;
  const n = typeof v === "string" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n)) {
    throw new InvalidArgumentError(`Invalid ${what} ${JSON.stringify(v)}: not a number`);
  }
  return n;
}

/** The number of CPUs a cpuset (`0-3,6`) names; 0 for an empty or malformed one. */
function cpusetSize(cpus: unknown): number {
  if (typeof cpus !== "string" || !cpus.trim()) return 0;
  let n = 0;
  for (const part of cpus.split(",")) {
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
    if (!m) return 0;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) return 0;
    n += hi - lo + 1;
  }
  return n;
}

/**
 * vCPUs of a CPU limit, in runtime-rs's order: quota / period when the quota
 * is set (not -1); else shares / 1024 when they make at least one CPU (a
 * best-effort or burstable pod gets none); else the size of the cpuset.
 */
function vcpusOf(period: number, quota: number, shares: number, cpus?: unknown): number {
  if (quota >= 0 && period > 0) return quota / period;
  if (shares > 0) return shares >= SHARES_PER_CPU ? shares / SHARES_PER_CPU : 0;
  return cpusetSize(cpus);
}

/** MiB of a memory limit, rounded up to an even MiB (2 MiB alignment, as runtime-rs). */
function memoryMibOf(bytes: number): number {
  if (!(bytes > 0)) return 0;
  const mib = Math.floor(bytes / MIB);
  return mib % 2 === 0 ? mib : mib + 1;
}

/**
 * The workload size an OCI spec asks for: a pod's sandbox container (CRI
 * container-type "sandbox", or a spec carrying the sandbox annotations) asks
 * with the CRI sandbox annotations; any other container with its
 * `linux.resources` (CPU quota/period, shares or cpuset; memory limit).
 */
export function workloadSize(spec: Record<string, unknown>): WorkloadSize {
  const ann = (spec.annotations ?? {}) as Record<string, string>;
  const linux = (spec.linux ?? {}) as Record<string, unknown>;
  const res = (linux.resources ?? {}) as Record<string, Record<string, unknown> | undefined>;
  const isPodSandbox = ann[CRI_CONTAINER_TYPE] === "sandbox" ||
    [SANDBOX_CPU_QUOTA, SANDBOX_CPU_SHARES, SANDBOX_MEMORY].some((k) => ann[k] !== undefined);
  if (isPodSandbox) {
    return {
      vcpus: vcpusOf(
        num(ann[SANDBOX_CPU_PERIOD], SANDBOX_CPU_PERIOD),
        num(ann[SANDBOX_CPU_QUOTA], SANDBOX_CPU_QUOTA, -1),
        num(ann[SANDBOX_CPU_SHARES], SANDBOX_CPU_SHARES),
        res.cpu?.cpus,
      ),
      memoryMib: memoryMibOf(num(ann[SANDBOX_MEMORY], SANDBOX_MEMORY)),
    };
  }
  return {
    vcpus: vcpusOf(
      num(res.cpu?.period, "linux.resources.cpu.period"),
      num(res.cpu?.quota, "linux.resources.cpu.quota", -1),
      num(res.cpu?.shares, "linux.resources.cpu.shares"),
      res.cpu?.cpus,
    ),
    memoryMib: memoryMibOf(num(res.memory?.limit, "linux.resources.memory.limit")),
  };
}

/**
 * The CRI sandbox annotations of a pod's limits, as containerd's podsandbox
 * controller writes them on the pause container (all four, or none when the
 * pod has no limits): under the Sandbox API the pod is sized through the
 * same annotations, so both sandboxers give a pod the same VM.
 */
export function podSandboxAnnotations(limits: PodLimits | undefined): Record<string, string> {
  if (!limits) return {};
  return {
    [SANDBOX_CPU_PERIOD]: String(limits.cpuPeriod),
    [SANDBOX_CPU_QUOTA]: String(limits.cpuQuota),
    [SANDBOX_CPU_SHARES]: String(limits.cpuShares),
    [SANDBOX_MEMORY]: String(limits.memoryLimitInBytes),
  };
}

/**
 * The VM size, as runtime-rs's `setup_config`: the workload's vCPUs are added
 * to the default ones and the sum rounded up to whole vCPUs, the workload's
 * memory is added to the default memory. Unlike runtime-rs, which raises
 * `default_maxvcpus` to fit and lets the VMM overcommit, a set maximum caps
 * the size (`capped` then says so): the drivers refuse more vCPUs than the
 * host has (the loader caps `default_maxvcpus` and `default_maxmemory` at
 * the host's), and a pod whose limits exceed the node should still start.
 */
export function staticVmSize(
  defaults: { vcpus: number; memoryMib: number },
  workload: WorkloadSize,
  max: { vcpus: number; memoryMib: number } = { vcpus: 0, memoryMib: 0 },
): VmSize {
  let vcpus = Math.max(1, Math.ceil(defaults.vcpus + workload.vcpus));
  let memoryMib = defaults.memoryMib + workload.memoryMib;
  let capped = false;
  if (max.vcpus > 0 && vcpus > max.vcpus) [vcpus, capped] = [max.vcpus, true];
  if (max.memoryMib > 0 && memoryMib > max.memoryMib) [memoryMib, capped] = [max.memoryMib, true];
  return { vcpus, memoryMib, capped };
}
