/**
 * Static sandbox sizing (`[runtime] static_sandbox_resource_mgmt`), as
 * runtime-rs's initial size manager does it: the VM is booted with the
 * configured default vCPUs and memory plus what the workload asks for, since
 * such a sandbox never hotplugs later. The ask comes from the pod-level CRI
 * annotations for a pod sandbox, else from the container's own
 * `linux.resources` (a plain `ctr run` container is its own sandbox).
 * @module
 */
import { InvalidArgumentError } from "../../common/errors.ts";

/** containerd CRI's pod-level resource annotations on the sandbox spec. */
export const SANDBOX_CPU_QUOTA = "io.kubernetes.cri.sandbox-cpu-quota";
export const SANDBOX_CPU_PERIOD = "io.kubernetes.cri.sandbox-cpu-period";
export const SANDBOX_MEMORY = "io.kubernetes.cri.sandbox-memory";

/** What the workload asks for on top of the VM's defaults. */
interface WorkloadSize {
  /** vCPUs (may be fractional: quota / period). */
  vcpus: number;
  /** Memory in MiB. */
  memoryMib: number;
}

/** The VM size after static sizing. */
interface VmSize {
  vcpus: number;
  memoryMib: number;
}

function num(v: unknown, what: string): number {
  if (v === undefined || v === null || v === "") return 0;
  const n = typeof v === "string" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n)) {
    throw new InvalidArgumentError(`Invalid ${what} ${JSON.stringify(v)}: not a number`);
  }
  return n;
}

function fromLimits(quota: number, period: number, memoryBytes: number): WorkloadSize {
  const vcpus = quota > 0 && period > 0 ? quota / period : 0;
  const memoryMib = memoryBytes > 0 ? Math.floor(memoryBytes / (1024 * 1024)) : 0;
  return { vcpus, memoryMib };
}

/**
 * The workload size an OCI spec asks for: the CRI sandbox annotations when
 * present, else `linux.resources.cpu.{quota,period}` and `memory.limit`.
 */
export function workloadSize(spec: Record<string, unknown>): WorkloadSize {
  const ann = (spec.annotations ?? {}) as Record<string, string>;
  if (ann[SANDBOX_CPU_QUOTA] !== undefined || ann[SANDBOX_MEMORY] !== undefined) {
    return fromLimits(
      num(ann[SANDBOX_CPU_QUOTA], SANDBOX_CPU_QUOTA),
      num(ann[SANDBOX_CPU_PERIOD], SANDBOX_CPU_PERIOD),
      num(ann[SANDBOX_MEMORY], SANDBOX_MEMORY),
    );
  }
  const linux = (spec.linux ?? {}) as Record<string, unknown>;
  const res = (linux.resources ?? {}) as Record<string, Record<string, unknown> | undefined>;
  return fromLimits(
    num(res.cpu?.quota, "linux.resources.cpu.quota"),
    num(res.cpu?.period, "linux.resources.cpu.period"),
    num(res.memory?.limit, "linux.resources.memory.limit"),
  );
}

/**
 * The VM size: defaults plus the workload (vCPUs rounded up to whole vCPUs),
 * capped by the maxima when they are set (0 = no cap).
 */
export function staticVmSize(
  defaults: VmSize,
  workload: WorkloadSize,
  max: { vcpus: number; memoryMib: number } = { vcpus: 0, memoryMib: 0 },
): VmSize {
  let vcpus = Math.ceil(defaults.vcpus + workload.vcpus);
  let memoryMib = defaults.memoryMib + workload.memoryMib;
  if (max.vcpus > 0) vcpus = Math.min(vcpus, max.vcpus);
  if (max.memoryMib > 0) memoryMib = Math.min(memoryMib, max.memoryMib);
  return { vcpus: Math.max(1, vcpus), memoryMib };
}
