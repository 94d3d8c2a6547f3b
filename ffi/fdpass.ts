/**
 * Receiving a file descriptor over a unix socket (SCM_RIGHTS), which Deno
 * cannot do natively: an OCI runtime's `--console-socket` sends the pty
 * master this way. Also the pty window-size ioctl. Fds are plain numbers
 * the caller owns and closes with `closeFd`.
 * @module
 */
import { cstr, lazyLibc } from "./libc.ts";
import { check, E, errno, SysError } from "./errno.ts";
import { closeFd } from "./fd.ts";
import { FfiError } from "./errors.ts";
import { unixSockaddr } from "./socket.ts";

const symbols = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  accept4: { parameters: ["i32", "pointer", "pointer", "i32"], result: "i32", nonblocking: true },
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "isize", nonblocking: true },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  write_nb: {
    name: "write",
    parameters: ["i32", "buffer", "usize"],
    result: "isize",
    nonblocking: true,
  },
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
} as const;

const sym = lazyLibc(symbols);

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_CMSG_CLOEXEC = 0x40000000;
const TIOCSWINSZ = 0x5414;

/** Creates a listening unix stream socket at `path`; the caller owns the fd. */
export function listenUnix(path: string): number {
  const addr = unixSockaddr(path, "Bind");
  const fd = check(sym().socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket", "unix");
  try {
    check(sym().bind(fd, addr, addr.length), "bind", path);
    check(sym().listen(fd, 1), "listen", path);
    return fd;
  } catch (e) {
    closeFd(fd);
    throw e;
  }
}

/** Accepts one connection off the JS thread; the caller owns the returned fd. */
export async function acceptUnix(listenFd: number): Promise<number> {
  const fd = await sym().accept4(listenFd, null, null, SOCK_CLOEXEC);
  if (fd < 0) throw new SysError("accept4", errno(), `fd ${listenFd}`);
  return fd;
}

/**
 * The console-socket handshake of an OCI runtime (`--console-socket`):
 * listens at `socketPath`, runs `run` (the runtime command), and returns the
 * pty master the runtime sent; the caller owns it. When `run` throws, a
 * still-waiting accept is released with a connection of our own and a master
 * sent before the failure is closed, then the error is rethrown. The socket
 * is closed and its file removed on every path.
 */
export async function receiveConsoleMaster(
  socketPath: string,
  run: () => Promise<unknown>,
): Promise<number> {
  const listenFd = listenUnix(socketPath);
  try {
    const master = (async () => {
      const conn = await acceptUnix(listenFd);
      try {
        return await receiveFd(conn);
      } finally {
        closeFd(conn);
      }
    })();
    // Handled below on every path; this only keeps a failure from going unobserved.
    master.catch(() => {});
    try {
      await run();
    } catch (e) {
      await Deno.connect({ transport: "unix", path: socketPath }).then((s) => s.close())
        .catch(() => {});
      await master.then((fd) => closeFd(fd), () => {});
      throw e;
    }
    return await master;
  } finally {
    closeFd(listenFd);
    try {
      Deno.removeSync(socketPath);
    } catch {
      // already gone: nothing left behind
    }
  }
}

/** Receives one message carrying one fd (SCM_RIGHTS) on `connFd`; returns the fd. */
export async function receiveFd(connFd: number): Promise<number> {
  const data = new Uint8Array(4096);
  const iov = new BigUint64Array(2);
  iov[0] = ptr(data);
  iov[1] = BigInt(data.length);
  const control = new Uint8Array(64);
  // struct msghdr on 64-bit Linux: name, namelen(+pad), iov, iovlen, control, controllen, flags
  const msg = new BigUint64Array(7);
  msg[2] = ptr(iov);
  msg[3] = 1n;
  msg[4] = ptr(control);
  msg[5] = BigInt(control.length);
  const rc = await sym().recvmsg(connFd, new Uint8Array(msg.buffer), MSG_CMSG_CLOEXEC);
  if (Number(rc) < 0) throw new SysError("recvmsg", errno(), `fd ${connFd}`);
  const controlLen = Number(msg[5]);
  const view = new DataView(control.buffer);
  // struct cmsghdr: len u64, level i32, type i32, data
  if (controlLen < 20) {
    throw new FfiError("Internal", `No file descriptor received on fd ${connFd}`);
  }
  const level = view.getInt32(8, true);
  const type = view.getInt32(12, true);
  if (level !== SOL_SOCKET || type !== SCM_RIGHTS) {
    throw new FfiError(
      "Internal",
      `Unexpected control message (level ${level}, type ${type}) on fd ${connFd}`,
    );
  }
  // Keep the buffers alive until here: the kernel wrote through their addresses.
  void data;
  void iov;
  return view.getInt32(16, true);
}

/** Sets a terminal's window size (TIOCSWINSZ). */
export function setWindowSize(fd: number, columns: number, rows: number): void {
  const ws = new Uint16Array([rows, columns, 0, 0]);
  check(sym().ioctl(fd, BigInt(TIOCSWINSZ), new Uint8Array(ws.buffer)), "ioctl", "TIOCSWINSZ");
}

/**
 * Writes all of `data` to `fd` off the JS thread, so that a full terminal
 * (a process that does not read its stdin) cannot stall the shim.
 */
export async function writeAllAsync(fd: number, data: Uint8Array<ArrayBuffer>): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const part = data.subarray(off);
    const n = Number(await sym().write_nb(fd, part, BigInt(part.length)));
    if (n < 0) {
      const e = errno();
      if (e === E.INTR) continue;
      throw new SysError("write", e, `fd ${fd}`);
    }
    off += n;
  }
}

/**
 * Opens a FIFO for writing without blocking; returns -1 when no reader has it
 * open (ENXIO). Used to release a reader still waiting in open(2).
 */
export function openFifoWriterNow(path: string): number {
  const O_WRONLY = 1, O_NONBLOCK = 0o4000, O_CLOEXEC = 0o2000000;
  const fd = sym().open(cstr(path), O_WRONLY | O_NONBLOCK | O_CLOEXEC, 0);
  return fd < 0 ? -1 : fd;
}

function ptr(buf: ArrayBufferView): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf as Uint8Array<ArrayBuffer>)));
}
