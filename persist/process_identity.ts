/**
 * Process identity for every pid the shim records (a VMM, a file server):
 * the pid alone is not enough, since pids are reused, so a record holds the
 * pid, its start time (`/proc/<pid>/stat` field 22, clock ticks since boot)
 * and its executable (`/proc/<pid>/exe`). A recorded process is signalled
 * only when all three still match; anything unproven is left alone.
 * @module
 */
import { closeFd } from "../ffi/fd.ts";
import { pidfdOpen, pidfdSendSignal } from "../ffi/process.ts";

/** What identifies one process across time. */
export interface ProcessIdentity {
  pid: number;
  /** /proc/<pid>/stat field 22 (decimal clock ticks since boot). */
  start_time: string;
  /** The target of /proc/<pid>/exe when it was recorded. */
  exe: string;
}

/**
 * Field 22 (starttime) of a /proc/<pid>/stat line. The command name (field
 * 2) may hold spaces and parentheses, so fields are counted after the last
 * `)`: what follows is field 3 onwards.
 */
export function parseStartTime(stat: string): string | null {
  const close = stat.lastIndexOf(")");
  if (close < 0) return null;
  const fields = stat.slice(close + 1).trim().split(/\s+/);
  const v = fields[22 - 3];
  return v !== undefined && /^\d+$/.test(v) ? v : null;
}

/** The start time of `pid`; null when there is no such process. */
export function processStartTime(pid: number): string | null {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    return parseStartTime(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return null;
  }
}

/** Whether `pid` is a zombie (exited, not reaped): it runs nothing any more. */
function isZombie(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 1).trim().startsWith("Z");
  } catch {
    return false;
  }
}

/** The identity of the running process `pid` now; null when it is gone or unreadable. */
export function identify(pid: number): ProcessIdentity | null {
  const start = processStartTime(pid);
  if (start === null) return null;
  let exe: string;
  try {
    exe = Deno.readLinkSync(`/proc/${pid}/exe`);
  } catch {
    return null; // a zombie or a kernel thread has no exe: nothing we recorded
  }
  // Re-read: the pid must not have changed hands between the two reads.
  if (processStartTime(pid) !== start) return null;
  return { pid, start_time: start, exe };
}

/** Whether `v` is a well-formed {@link ProcessIdentity} (from an untrusted state.json). */
export function isProcessIdentity(v: unknown): v is ProcessIdentity {
  const r = v as ProcessIdentity;
  return typeof v === "object" && v !== null && Number.isInteger(r.pid) && r.pid > 1 &&
    typeof r.start_time === "string" && /^\d+$/.test(r.start_time) &&
    typeof r.exe === "string" && r.exe.startsWith("/");
}

/**
 * Whether the process recorded as `rec` still runs: same pid, same start
 * time, same executable, and not a zombie. A malformed record never matches.
 */
export function isSameProcess(rec: ProcessIdentity): boolean {
  if (!isProcessIdentity(rec)) return false;
  const now = identify(rec.pid);
  return now !== null && now.start_time === rec.start_time && now.exe === rec.exe &&
    !isZombie(rec.pid);
}

/** What {@link killIdentified} did. */
export type KillOutcome = "killed" | "gone" | "not_ours";

const SIGNALS = { SIGKILL: 9, SIGTERM: 15 } as const;

/**
 * Sends `signal` to the recorded process only when {@link isSameProcess}
 * proves it is the one recorded, then (for SIGKILL) waits up to `waitMs` for
 * it to be gone. "gone" when no process holds the pid; "not_ours" when another
 * process does (it is left alone). The process is pinned with a pidfd before
 * the check, so the signal cannot reach a process that took the pid between
 * the check and the kill.
 */
export async function killIdentified(
  rec: ProcessIdentity,
  signal: keyof typeof SIGNALS = "SIGKILL",
  waitMs = 2000,
): Promise<KillOutcome> {
  if (!isProcessIdentity(rec)) return "not_ours";
  const pidfd = pidfdOpen(rec.pid);
  if (pidfd === null) return "gone";
  try {
    if (!isSameProcess(rec)) return processStartTime(rec.pid) === null ? "gone" : "not_ours";
    if (!pidfdSendSignal(pidfd, SIGNALS[signal])) return "gone";
  } finally {
    closeFd(pidfd);
  }
  if (signal === "SIGKILL") {
    const until = Date.now() + waitMs;
    while (isSameProcess(rec) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  return "killed";
}
