/**
 * CPU affinity of threads: `sched_getaffinity` / `sched_setaffinity` on a
 * thread id (what vCPU pinning needs), and the vCPU threads of a process
 * found by their names (`CPU <n>/KVM`, as QEMU and the built-in VMM name them).
 * @module
 */
import { FfiError } from "./errors.ts";
import { lazyLibc } from "./libc.ts";
import { check } from "./errno.ts";

const sym = lazyLibc({
  sched_getaffinity: { parameters: ["i32", "usize", "buffer"], result: "i32" },
  sched_setaffinity: { parameters: ["i32", "usize", "buffer"], result: "i32" },
});

/** Bytes of the CPU mask (1024 CPUs, glibc's cpu_set_t). */
const MASK_BYTES = 128;

/** The CPUs thread (or process) `tid` may run on; 0 = the calling thread. */
export function getAffinity(tid = 0): number[] {
  const mask = new Uint8Array(MASK_BYTES);
  check(sym().sched_getaffinity(tid, BigInt(MASK_BYTES), mask), "sched_getaffinity", `of ${tid}`);
  const cpus: number[] = [];
  for (let i = 0; i < MASK_BYTES * 8; i++) if (mask[i >> 3] & (1 << (i & 7))) cpus.push(i);
  return cpus;
}

/** Restricts thread `tid` to `cpus`. */
export function setAffinity(tid: number, cpus: readonly number[]): void {
  const mask = new Uint8Array(MASK_BYTES);
  for (const c of cpus) {
    if (!Number.isInteger(c) || c < 0 || c >= MASK_BYTES * 8) {
      throw new FfiError("InvalidArgument", `CPU ${c} is outside 0..${MASK_BYTES * 8 - 1}`);
    }
    mask[c >> 3] |= 1 << (c & 7);
  }
  check(sym().sched_setaffinity(tid, BigInt(MASK_BYTES), mask), "sched_setaffinity", `of ${tid}`);
}

/** The vCPU threads of process `pid`, by vCPU index: threads named `CPU <n>/KVM`. */
export function vcpuThreads(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(`/proc/${pid}/task`)];
  } catch {
    return out;
  }
  for (const e of entries) {
    let comm = "";
    try {
      comm = Deno.readTextFileSync(`/proc/${pid}/task/${e.name}/comm`).trim();
    } catch {
      continue; // the thread ended
    }
    const m = /^CPU (\d+)\/KVM$/.exec(comm);
    if (m) out.set(Number(m[1]), Number(e.name));
  }
  return out;
}
