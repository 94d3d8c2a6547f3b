/**
 * Errno: reading the calling thread's value, its C library text, and
 * {@link SysError}, the error every failed system call of `ffi/` throws.
 * @module
 */
import { type ErrnoStatus, errnoStatus } from "./errors.ts";
import { lazyLibc } from "./libc.ts";

const libc = lazyLibc({
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
});

/** The errno values the project acts on (Linux x86-64 and arm64 share them). */
export const E = {
  NOENT: 2,
  E2BIG: 7,
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
