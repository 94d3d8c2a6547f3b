/**
 * Process-control system calls the shim needs and Deno lacks: becoming a
 * child subreaper, reaping one specific pid without blocking, sending a
 * signal to a pid, and pipes whose ends stay private to this process.
 * @module
 */
import { lazyLibc } from "./libc.ts";
import { check, E, errno, SysError } from "./errno.ts";

const symbols = {
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  kill: { parameters: ["i32", "i32"], result: "i32" },
  getpid: { parameters: [], result: "i32" },
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  syscall4: { name: "syscall", parameters: ["i64", "i64", "i64", "i64", "i64"], result: "i64" },
} as const;

const sym = lazyLibc(symbols);

const PR_SET_CHILD_SUBREAPER = 36;
const PR_GET_CHILD_SUBREAPER = 37;
const WNOHANG = 1;
// x86_64 syscall numbers (Deno has no pidfd API).
const SYS_PIDFD_SEND_SIGNAL = 424n;
const SYS_PIDFD_OPEN = 434n;

/**
 * Makes this process the reaper of its orphaned descendants, so that a
 * container's init (re-parented when `runc create` exits) reports to us.
 */
export function setChildSubreaper(on = true): void {
  check(
    sym().prctl(PR_SET_CHILD_SUBREAPER, on ? 1n : 0n, 0n, 0n, 0n),
    "prctl",
    "PR_SET_CHILD_SUBREAPER",
  );
}

/** Whether this process is a child subreaper. */
export function isChildSubreaper(): boolean {
  const out = new Uint8Array(4);
  const p = Deno.UnsafePointer.of(out);
  check(
    sym().prctl(PR_GET_CHILD_SUBREAPER, Deno.UnsafePointer.value(p) as bigint, 0n, 0n, 0n),
    "prctl",
    "PR_GET_CHILD_SUBREAPER",
  );
  return new DataView(out.buffer).getInt32(0, true) !== 0;
}

/** How a reaped process ended. */
export interface ExitInfo {
  pid: number;
  /** The exit code, or 128 + signal number for a death by signal (the shell convention containerd uses). */
  status: number;
  /** The signal that killed it, if any. */
  signal?: number;
}

/** Decodes a wait(2) status word into {@link ExitInfo}. */
export function decodeWaitStatus(pid: number, raw: number): ExitInfo {
  const sig = raw & 0x7f;
  if (sig === 0) return { pid, status: (raw >> 8) & 0xff };
  return { pid, status: 128 + sig, signal: sig };
}

/**
 * waitpid(pid, WNOHANG): reaps `pid` if it has exited. Returns undefined
 * while it runs, and `null` when it is not our child (or was reaped already).
 */
export function tryReap(pid: number): ExitInfo | undefined | null {
  const buf = new Uint8Array(4);
  for (;;) {
    const rc = sym().waitpid(pid, buf, WNOHANG);
    if (rc === 0) return undefined;
    if (rc === pid) return decodeWaitStatus(pid, new DataView(buf.buffer).getInt32(0, true));
    const e = errno();
    if (e === E.INTR) continue;
    if (e === E.CHILD) return null;
    throw new SysError("waitpid", e, `pid ${pid}`);
  }
}

/**
 * waitpid(-1, WNOHANG): reaps one exited child, whichever; undefined when
 * none has exited (or there are no children). For a PID 1 that reaps orphans.
 */
export function reapAny(): ExitInfo | undefined {
  const buf = new Uint8Array(4);
  for (;;) {
    const rc = sym().waitpid(-1, buf, WNOHANG);
    if (rc > 0) return decodeWaitStatus(rc, new DataView(buf.buffer).getInt32(0, true));
    if (rc === 0) return undefined;
    const e = errno();
    if (e === E.INTR) continue;
    if (e === E.CHILD) return undefined;
    throw new SysError("waitpid", e, "any child");
  }
}

/** Sends `signal` to `pid`; returns false when the process no longer exists. */
export function sendSignal(pid: number, signal: number): boolean {
  if (sym().kill(pid, signal) === 0) return true;
  const e = errno();
  if (e === E.SRCH) return false;
  throw new SysError("kill", e, `pid ${pid} signal ${signal}`);
}

/** Whether a process with this pid exists (signal 0 probe; a zombie counts). */
export function processExists(pid: number): boolean {
  return pid > 0 && sendSignal(pid, 0);
}

/** This process's pid. */
export function getPid(): number {
  return sym().getpid();
}

/**
 * pipe2(O_CLOEXEC): both ends stay private to this process (children never
 * inherit them); a child is handed an end by path (`/proc/<pid>/fd/<n>`).
 * The caller closes both fds.
 */
export function privatePipe(): { read: number; write: number } {
  const fds = new Int32Array(2);
  const O_CLOEXEC = 0o2000000;
  check(sym().pipe2(new Uint8Array(fds.buffer), O_CLOEXEC), "pipe2");
  return { read: fds[0], write: fds[1] };
}

/**
 * pidfd_open(2): an fd that refers to process `pid` itself, not to whatever
 * later holds the number; null when no such process exists. The caller
 * closes it (fd.ts closeFd).
 */
export function pidfdOpen(pid: number): number | null {
  const rc = Number(sym().syscall4(SYS_PIDFD_OPEN, BigInt(pid), 0n, 0n, 0n));
  if (rc >= 0) return rc;
  const e = errno();
  if (e === E.SRCH) return null;
  throw new SysError("pidfd_open", e, `pid ${pid}`);
}

/**
 * pidfd_send_signal(2): signals exactly the process `pidfd` refers to;
 * false when it has exited meanwhile.
 */
export function pidfdSendSignal(pidfd: number, signal: number): boolean {
  const rc = Number(sym().syscall4(SYS_PIDFD_SEND_SIGNAL, BigInt(pidfd), BigInt(signal), 0n, 0n));
  if (rc === 0) return true;
  const e = errno();
  if (e === E.SRCH) return false;
  throw new SysError("pidfd_send_signal", e, `pidfd ${pidfd} signal ${signal}`);
}
