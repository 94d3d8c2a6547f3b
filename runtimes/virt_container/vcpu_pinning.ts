/**
 * `[runtime] enable_vcpus_pinning`: once the VM runs, each vCPU thread is
 * pinned to one CPU when the vCPUs and the CPUs the VMM may use are equally
 * many (upstream's rule: pinning only pays when every vCPU gets a CPU of
 * its own); otherwise they are left as they are, with a log line saying why.
 * vCPU threads are found by name (`CPU <n>/KVM`) in the VMM process: QEMU's
 * own threads, or the built-in VMM's worker threads inside the shim.
 * @module
 */
import { getLogger } from "../../common/log.ts";
import { getAffinity, setAffinity, vcpuThreads } from "../../ffi/affinity.ts";
import type { SandboxService, VirtSandbox } from "./sandbox.ts";

const log = getLogger("runtimes.virt_container.vcpu_pinning");

/** What was decided for one VMM process. */
interface PinningResult {
  pid: number;
  /** vCPU index → CPU, when pinned. */
  pinned: Map<number, number>;
  /** Why nothing was pinned. */
  skipped?: string;
}

/** Pins the vCPU threads of `pid` one to one on the CPUs `pid` may use. */
export function pinVcpus(pid: number, expectedVcpus: number): PinningResult {
  const threads = vcpuThreads(pid);
  if (threads.size === 0) return { pid, pinned: new Map(), skipped: "no vCPU threads found" };
  if (expectedVcpus > 0 && threads.size !== expectedVcpus) {
    return {
      pid,
      pinned: new Map(),
      skipped: `${threads.size} vCPU threads found, ${expectedVcpus} configured`,
    };
  }
  const cpus = getAffinity(pid);
  if (cpus.length !== threads.size) {
    return {
      pid,
      pinned: new Map(),
      skipped: `${threads.size} vCPUs but ${cpus.length} CPUs allowed (${cpus.join(",")})`,
    };
  }
  const pinned = new Map<number, number>();
  [...threads.keys()].sort((a, b) => a - b).forEach((vcpu, i) => {
    setAffinity(threads.get(vcpu)!, [cpus[i]]);
    pinned.set(vcpu, cpus[i]);
  });
  return { pid, pinned };
}

/** The service that pins the vCPUs after boot (no-op when `enabled` is false). */
export function vcpuPinningService(enabled: boolean, vcpus: number): SandboxService {
  return {
    name: "vcpu_pinning",
    start(sb: VirtSandbox) {
      if (!enabled) return;
      for (const pid of sb.parts.hypervisor.pids()) {
        const r = pinVcpus(pid, vcpus);
        if (r.skipped) {
          log.info("sandbox {id}: vCPUs not pinned: {why}", { id: sb.id, why: r.skipped });
        } else {
          log.info("sandbox {id}: vCPUs pinned {map}", {
            id: sb.id,
            map: [...r.pinned].map(([v, c]) => `${v}->${c}`).join(" "),
          });
        }
      }
    },
    stop() {},
  };
}
