/**
 * What `start` and the server it spawns share across exec: a readiness pipe
 * (the write end survives exec; the server writes one byte once its socket
 * is at the address, and its death closes the pipe, so `start` learns either
 * at once, without polling the file system); the close-on-exec switch the
 * server uses on the end it inherited (so that the processes it spawns in
 * turn do not keep the pipe open); and a synchronous probe of whether
 * something already serves a socket path.
 * @module
 */
import { lazyLibc } from "./libc.ts";
import { check, E, errno, SysError } from "./errno.ts";
import { closeFd, readFd, writeFd } from "./fd.ts";
import { AF, SOCK, unixSockaddr } from "./socket.ts";

const symbols = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
} as const;

const sym = lazyLibc(symbols);

const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
const POLLIN = 1;

/**
 * A pipe whose read end is close-on-exec and whose write end is not, so a
 * process spawned next inherits the write end at the same number. The
 * caller closes both ends (the write end right after the spawn).
 */
export function readinessPipe(): { read: number; write: number } {
  const fds = new Int32Array(2);
  check(sym().pipe2(new Uint8Array(fds.buffer), 0), "pipe2", "readiness pipe");
  try {
    setCloseOnExec(fds[0], true);
  } catch (e) {
    closeFd(fds[0]);
    closeFd(fds[1]);
    throw e;
  }
  return { read: fds[0], write: fds[1] };
}

/** What the reader of a readiness pipe learnt. */
type Readiness = "ready" | "closed" | "timeout";

/**
 * Blocks (the JS thread too: `start` has nothing else to do) until the
 * readiness pipe `fd` carries a byte ("ready"), is closed by every writer
 * without one ("closed": the writer died), or `timeoutMs` passes.
 */
export function awaitReadiness(fd: number, timeoutMs: number): Readiness {
  const deadline = performance.now() + timeoutMs;
  const pfd = new Uint8Array(8);
  const view = new DataView(pfd.buffer);
  for (;;) {
    const left = Math.max(0, Math.ceil(deadline - performance.now()));
    view.setInt32(0, fd, true);
    view.setInt16(4, POLLIN, true);
    view.setInt16(6, 0, true);
    const rc = sym().poll(pfd, 1n, left);
    if (rc < 0) {
      const e = errno();
      if (e === E.INTR) continue;
      throw new SysError("poll", e, `readiness pipe fd ${fd}`);
    }
    if (rc === 0) return "timeout";
    // Readable or hung up: a byte means ready, end of file means every writer is gone.
    return readFd(fd, new Uint8Array(1)) === 1 ? "ready" : "closed";
  }
}

/** Sleeps the JS thread for `ms` (poll with no fds): short waits in a process that only waits. */
export function sleepSync(ms: number): void {
  sym().poll(new Uint8Array(8), 0n, ms);
}

/** Writes the ready byte to the inherited readiness pipe `fd` and closes it. */
export function signalReady(fd: number): void {
  try {
    writeFd(fd, new Uint8Array([1]));
  } finally {
    closeFd(fd);
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
