/**
 * File leases (fcntl F_SETLEASE): a read lease on a file this process maps
 * makes the kernel tell it (SIGIO) before another process truncates the file
 * or opens it for writing, and hold that process back until the lease is
 * released (at most /proc/sys/fs/lease-break-time seconds). A VM restored
 * from a template file uses it to stop before its unwritten pages vanish.
 * SIGIO's default action ends the process, so the first lease installs the
 * one process-wide SIGIO listener, never removed, which calls the
 * {@link onLeaseBreak} callbacks.
 * @module
 */
import { lazyLibc } from "./libc.ts";
import { check } from "./errno.ts";

const libc = lazyLibc({
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
});

const F_SETLEASE = 1024;
const F_GETLEASE = 1025;
const F_RDLCK = 0;
const F_UNLCK = 2;

const callbacks = new Set<() => void>();
let listening = false;

function dispatch(): void {
  for (const cb of [...callbacks]) cb();
}

/** Runs `cb` on every SIGIO (a lease is being broken); returns the function that stops it. */
export function onLeaseBreak(cb: () => void): () => void {
  callbacks.add(cb);
  return () => callbacks.delete(cb);
}

/**
 * Takes a read lease on `fd` (opened read-only); SIGIO announces its break.
 * Fails (EAGAIN) while some process has the file open for writing.
 */
export function takeReadLease(fd: number, what: string): void {
  if (!listening) {
    Deno.addSignalListener("SIGIO", dispatch);
    listening = true;
  }
  check(libc().fcntl(fd, F_SETLEASE, F_RDLCK), "fcntl", `F_SETLEASE ${what}`);
}

/**
 * Whether the lease on `fd` is being broken (another process waits to
 * truncate or write the file) or is gone: F_GETLEASE then reports the type
 * it is being downgraded to, none.
 */
export function leaseBreaking(fd: number, what: string): boolean {
  return check(libc().fcntl(fd, F_GETLEASE, 0), "fcntl", `F_GETLEASE ${what}`) === F_UNLCK;
}
