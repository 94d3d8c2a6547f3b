/**
 * Handing a listening socket to a child process (the Go shims' pattern:
 * `start` binds the shim's socket, the server it spawns serves it): a Unix
 * listener whose fd survives exec, and the close-on-exec switch the child
 * uses once it has adopted the fd (so that the processes the server spawns
 * in turn do not keep the socket alive); and a synchronous probe of whether
 * something already serves a socket path.
 * @module
 */
import { lazyLibc } from "./libc.ts";
import { check, E, errno } from "./errno.ts";
import { closeFd } from "./fd.ts";
import { AF, SOCK, unixSockaddr } from "./socket.ts";

const symbols = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
} as const;

const sym = lazyLibc(symbols);

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
  const addr = unixSockaddr(path, "Bind");
  const fd = check(sym().socket(AF.UNIX, SOCK.STREAM, 0), "socket", "unix");
  try {
    check(sym().bind(fd, addr, addr.length), "bind", path);
    check(sym().listen(fd, BACKLOG), "listen", path);
    return fd;
  } catch (e) {
    closeFd(fd);
    throw e;
  }
}

/**
 * Whether a listener accepts connections at the Unix socket `path` (a
 * connection is made and closed at once; a full backlog counts as served).
 * Synchronous, unlike `Deno.connect`: `start` must not start Deno's I/O
 * thread pool for this one probe.
 */
export function unixSocketServed(path: string): boolean {
  const addr = unixSockaddr(path, "Connect");
  const fd = check(
    sym().socket(AF.UNIX, SOCK.STREAM | SOCK.NONBLOCK | SOCK.CLOEXEC, 0),
    "socket",
    "unix",
  );
  try {
    for (;;) {
      if (sym().connect(fd, addr, addr.length) === 0) return true;
      const e = errno();
      if (e === E.INTR) continue;
      // EAGAIN: the listener's backlog is full, so a listener is there.
      return e === E.AGAIN;
    }
  } finally {
    closeFd(fd);
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
