/**
 * The core libc bindings every other `ffi/` module builds on: one `dlopen`
 * of libc, errno handling, fd-safe open/close/read/write, ioctl, mmap and
 * eventfd. Nothing outside `ffi/` sees a raw pointer or a syscall number.
 * @module
 */
import { type ErrnoStatus, errnoStatus } from "./errors.ts";

const LIBC_PATH = "libc.so.6";

const symbols = {
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  ioctl_ptr: { name: "ioctl", parameters: ["i32", "u64", "pointer"], result: "i32" },
  ioctl_buf: { name: "ioctl", parameters: ["i32", "u64", "buffer"], result: "i32" },
  ioctl_val: { name: "ioctl", parameters: ["i32", "u64", "u64"], result: "i32" },
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  poll_nb: { name: "poll", parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
} as const;

/**
 * Binds `symbols` of libc for an `ffi/` module, lazily: libc is opened on the
 * first call of the returned function (so importing is free), once.
 */
export function lazyLibc<const S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): () => Deno.DynamicLibrary<S>["symbols"] {
  let lib: Deno.DynamicLibrary<S> | undefined;
  return () => (lib ??= Deno.dlopen(LIBC_PATH, symbols)).symbols;
}

/** The lazily opened libc handle (opened on first use so importing is free). */
export const libc: () => Deno.DynamicLibrary<typeof symbols>["symbols"] = lazyLibc(symbols);

/** The errno values the project acts on (Linux x86-64 and arm64 share them). */
export const E = {
  NOENT: 2,
  SRCH: 3,
  INTR: 4,
  CHILD: 10,
  AGAIN: 11,
  BUSY: 16,
  INVAL: 22,
  NAMETOOLONG: 36,
  ADDRINUSE: 98,
} as const;

/** Reads the calling thread's errno. Call it right after the failing call. */
export function errno(): number {
  const p = libc().__errno_location();
  return p ? new Deno.UnsafePointerView(p).getInt32() : 0;
}

/** The C library's text for an errno value. */
export function strerror(code: number): string {
  const p = libc().strerror(code);
  return p ? Deno.UnsafePointerView.getCString(p) : `errno ${code}`;
}

/** A failed system call: names the call, what it acted on, and errno's text. */
export class SysError extends Error {
  /** The status name the RPC boundary sends, from the errno. */
  get code(): ErrnoStatus {
    return errnoStatus(this.errno);
  }
  constructor(readonly syscall: string, readonly errno: number, what = "") {
    super(`${syscall}${what ? ` ${what}` : ""}: ${strerror(errno)} (errno ${errno})`);
    this.name = "SysError";
  }
}

/** Throws a {@link SysError} when `rc` is negative; returns `rc` otherwise. */
export function check(rc: number | bigint, syscall: string, what = ""): number {
  const n = Number(rc);
  if (n < 0) throw new SysError(syscall, errno(), what);
  return n;
}

/** A NUL-terminated copy of `s` for C string parameters. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  const b = new TextEncoder().encode(s);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}

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

/** Closes `fd`, ignoring EBADF-style errors on shutdown paths only when asked. */
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

/** write(2) of all of `buf`. */
export function writeFd(fd: number, buf: Uint8Array<ArrayBuffer>): void {
  let off = 0;
  while (off < buf.length) {
    const part = buf.subarray(off);
    off += check(libc().write(fd, part, BigInt(part.length)), "write", `fd ${fd}`);
  }
}

/** ioctl(2) with a buffer argument (the kernel reads and/or writes it). */
export function ioctlBuf(
  fd: number,
  request: number | bigint,
  arg: Uint8Array<ArrayBuffer>,
  what = "",
): number {
  return check(libc().ioctl_buf(fd, BigInt(request), arg), "ioctl", what);
}

/** ioctl(2) with an integer argument. */
export function ioctlVal(
  fd: number,
  request: number | bigint,
  arg: number | bigint = 0,
  what = "",
): number {
  return check(libc().ioctl_val(fd, BigInt(request), BigInt(arg)), "ioctl", what);
}

/** mmap(2) protections and flags used by the project. */
export const PROT = { READ: 1, WRITE: 2 } as const;
export const MAP = { SHARED: 1, PRIVATE: 2, ANONYMOUS: 0x20, NORESERVE: 0x4000 } as const;

/** A mapped memory region; {@link unmap} it exactly once. */
export interface Mapping {
  pointer: Deno.PointerObject;
  length: number;
  /** A view of the whole mapping (valid until unmapped). */
  bytes: Uint8Array<ArrayBuffer>;
}

/** mmap(2): maps `length` bytes of `fd` (or anonymous memory when fd is -1). */
export function map(length: number, prot: number, flags: number, fd = -1, offset = 0): Mapping {
  const p = libc().mmap(null, BigInt(length), prot, flags, fd, BigInt(offset));
  if (p === null || Deno.UnsafePointer.value(p) === 0xffffffffffffffffn) {
    throw new SysError("mmap", errno(), `${length} bytes`);
  }
  const bytes = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(p, length));
  return { pointer: p, length, bytes };
}

/** munmap(2). */
export function unmap(m: Mapping): void {
  check(libc().munmap(m.pointer, BigInt(m.length)), "munmap");
}

/** eventfd(2) with EFD_CLOEXEC | `flags`. */
export function eventFd(initial = 0, flags = 0): number {
  const EFD_CLOEXEC = 0o2000000;
  return check(libc().eventfd(initial, flags | EFD_CLOEXEC), "eventfd");
}

/**
 * poll(2) for readability off the JS thread: resolves with the fds from
 * `fds` that are readable (or hung up) within `timeoutMs`, or none.
 */
export async function pollReadable(fds: readonly number[], timeoutMs: number): Promise<number[]> {
  const POLLIN = 1, POLLERR = 8, POLLHUP = 0x10;
  const b = new Uint8Array(8 * fds.length);
  const v = new DataView(b.buffer);
  fds.forEach((fd, i) => {
    v.setInt32(i * 8, fd, true);
    v.setInt16(i * 8 + 4, POLLIN, true);
  });
  const rc = await libc().poll_nb(b, BigInt(fds.length), timeoutMs);
  if (rc < 0) return []; // EINTR and friends: the caller polls again
  return fds.filter((_, i) => (v.getInt16(i * 8 + 6, true) & (POLLIN | POLLERR | POLLHUP)) !== 0);
}
