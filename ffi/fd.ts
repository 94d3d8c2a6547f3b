/**
 * File descriptors: fd-safe open, close, read and write (blocking, and a read
 * that waits off the JS thread). The caller owns every fd it opens and closes
 * it on every path ({@link withFd}).
 * @module
 */
import { cstr, lazyLibc } from "./libc.ts";
import { check, E, errno, SysError } from "./errno.ts";
import { pollReadable } from "./poll.ts";

const libc = lazyLibc({
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
});

/** open(2) flags used by the project. */
export const O = {
  RDONLY: 0,
  WRONLY: 1,
  RDWR: 2,
  CREAT: 0o100,
  NONBLOCK: 0o4000,
  CLOEXEC: 0o2000000,
} as const;

/** Opens `path`; the caller owns the fd and must {@link closeFd} it. */
export function openFd(path: string, flags: number, mode = 0): number {
  return check(libc().open(cstr(path), flags | O.CLOEXEC, mode), "open", path);
}

/** Closes `fd`; a failure (EBADF: closed twice) is a {@link SysError}. */
export function closeFd(fd: number): void {
  check(libc().close(fd), "close", `fd ${fd}`);
}

/** Runs `fn` with an fd opened by `open`, closing it on every path. */
export function withFd<T>(fd: number, fn: (fd: number) => T): T {
  try {
    return fn(fd);
  } finally {
    libc().close(fd);
  }
}

/** read(2) into `buf`; returns the byte count (0 = EOF). Blocks the JS thread. */
export function readFd(fd: number, buf: Uint8Array<ArrayBuffer>): number {
  return check(libc().read(fd, buf, BigInt(buf.length)), "read", `fd ${fd}`);
}

/**
 * read(2) of an fd that may block, without blocking the JS thread: waits on
 * Deno's thread pool until `fd` is readable, then reads on this thread. A
 * read on a pool thread would leave its errno on that thread, where
 * {@link errno} cannot see it. One reader per fd (a second could empty it
 * between the poll and the read).
 */
export async function readFdAsync(fd: number, buf: Uint8Array<ArrayBuffer>): Promise<number> {
  for (;;) {
    if ((await pollReadable([fd], -1)).length === 0) continue; // interrupted
    const rc = Number(libc().read(fd, buf, BigInt(buf.length)));
    if (rc >= 0) return rc;
    const e = errno();
    if (e !== E.INTR && e !== E.AGAIN) throw new SysError("read", e, `fd ${fd}`);
  }
}

/**
 * One read(2) of a non-blocking fd: the byte count (0 = EOF), or null when
 * nothing is waiting (EAGAIN).
 */
export function readFdNonBlocking(
  fd: number,
  buf: Uint8Array<ArrayBuffer>,
  what: string,
): number | null {
  const rc = Number(libc().read(fd, buf, BigInt(buf.length)));
  if (rc >= 0) return rc;
  const e = errno();
  if (e === E.AGAIN) return null;
  throw new SysError("read", e, what);
}

/** One write(2) of `buf`; returns how many bytes went (a short count is the caller's to judge). */
export function writeFdOnce(fd: number, buf: Uint8Array<ArrayBuffer>, what: string): number {
  return check(libc().write(fd, buf, BigInt(buf.length)), "write", what);
}

/** write(2) of all of `buf`. */
export function writeFd(fd: number, buf: Uint8Array<ArrayBuffer>): void {
  let off = 0;
  while (off < buf.length) {
    const part = buf.subarray(off);
    off += writeFdOnce(fd, part, `fd ${fd}`);
  }
}

/** close(2) of each fd, ignoring failures: for shutdown paths that must release everything. */
export function closeFdsQuietly(fds: Iterable<number>): void {
  for (const fd of fds) libc().close(fd);
}
