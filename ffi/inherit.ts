/**
 * Handing a listening socket to a child process (the Go shims' pattern:
 * `start` binds the shim's socket, the server it spawns serves it): a Unix
 * listener whose fd survives exec, and the close-on-exec switch the child
 * uses once it has adopted the fd (so that the processes the server spawns
 * in turn do not keep the socket alive).
 * @module
 */
import { check, closeFd, cstr, lazyLibc, SysError } from "./libc.ts";

const symbols = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
} as const;

const sym = lazyLibc(symbols);

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SUN_PATH_MAX = 108;
const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
/** The kernel caps the backlog at net.core.somaxconn; Go's net.Listen asks for that too. */
const BACKLOG = 4096;

/**
 * Creates a listening Unix stream socket at `path` WITHOUT close-on-exec, so
 * a process spawned next inherits it at the same number. The caller owns the
 * fd and closes it once the child is spawned.
 */
export function listenUnixInheritable(path: string): number {
  const name = cstr(path);
  if (name.length > SUN_PATH_MAX) throw new SysError("Bind", 36, /* ENAMETOOLONG */ path);
  const fd = check(sym().socket(AF_UNIX, SOCK_STREAM, 0), "socket", "unix");
  try {
    const addr = new Uint8Array(2 + SUN_PATH_MAX);
    new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
    addr.set(name, 2);
    check(sym().bind(fd, addr, addr.length), "bind", path);
    check(sym().listen(fd, BACKLOG), "listen", path);
    return fd;
  } catch (e) {
    closeFd(fd);
    throw e;
  }
}

/** Sets or clears close-on-exec on `fd` (which the caller owns). */
export function setCloseOnExec(fd: number, on: boolean): void {
  const flags = check(sym().fcntl(fd, F_GETFD, 0), "fcntl", `F_GETFD fd ${fd}`);
  const want = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
  check(sym().fcntl(fd, F_SETFD, want), "fcntl", `F_SETFD fd ${fd}`);
}

/** Whether close-on-exec is set on `fd`. */
export function closeOnExec(fd: number): boolean {
  return (check(sym().fcntl(fd, F_GETFD, 0), "fcntl", `F_GETFD fd ${fd}`) & FD_CLOEXEC) !== 0;
}
