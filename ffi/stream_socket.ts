/**
 * Non-blocking stream-socket calls on fds Deno cannot adopt (the listening
 * socket `start` hands to the shim's server), and a poll(2) that waits off
 * the JS thread. accept, recv and send never wait; a caller waits for
 * readiness with {@link pollAsync}, on Deno's blocking thread pool. This
 * replaced `node:net`'s fd adoption, whose compat layer cost the server
 * about 44 ms of start-up.
 * @module
 */
import { lazyLibc } from "./libc.ts";
import { check, E, errno, SysError } from "./errno.ts";
import { closeFd } from "./fd.ts";
import { eventFd } from "./eventfd.ts";
import { SOCK } from "./socket.ts";

const symbols = {
  accept4: { parameters: ["i32", "pointer", "pointer", "i32"], result: "i32" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  poll_nb: { name: "poll", parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
} as const;

const sym = lazyLibc(symbols);

const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const SHUT_RDWR = 2;
const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;
const EFD_NONBLOCK = 0o4000;

/** poll(2) event bits. */
export const POLL = { IN: 0x1, OUT: 0x4, ERR: 0x8, HUP: 0x10, NVAL: 0x20 } as const;

/** Sets O_NONBLOCK on `fd` (which the caller owns). */
export function setNonBlocking(fd: number): void {
  const flags = check(sym().fcntl(fd, F_GETFL, 0), "fcntl", `F_GETFL fd ${fd}`);
  check(sym().fcntl(fd, F_SETFL, flags | O_NONBLOCK), "fcntl", `F_SETFL fd ${fd}`);
}

/** accept4(2) on a non-blocking listener: the new fd (close-on-exec, non-blocking), or "again". */
export function acceptNow(fd: number): number | "again" {
  for (;;) {
    const rc = sym().accept4(fd, null, null, SOCK.CLOEXEC | SOCK.NONBLOCK);
    if (rc >= 0) return rc;
    const e = errno();
    if (e === E.INTR) continue;
    if (e === E.AGAIN) return "again";
    throw new SysError("accept4", e, `fd ${fd}`);
  }
}

/** recv(2) of what is there now: the byte count (0 = end of stream), or "again". */
export function recvNow(fd: number, buf: Uint8Array<ArrayBuffer>): number | "again" {
  for (;;) {
    const rc = Number(sym().recv(fd, buf, BigInt(buf.length), MSG_DONTWAIT));
    if (rc >= 0) return rc;
    const e = errno();
    if (e === E.INTR) continue;
    if (e === E.AGAIN) return "again";
    throw new SysError("recv", e, `fd ${fd}`);
  }
}

/**
 * send(2) of what the socket takes now, without waiting: the byte count, or
 * 0 when its buffer is full. A closed peer is an error, never SIGPIPE.
 */
export function sendNow(fd: number, buf: Uint8Array<ArrayBuffer>): number {
  for (;;) {
    const rc = Number(sym().send(fd, buf, BigInt(buf.length), MSG_DONTWAIT | MSG_NOSIGNAL));
    if (rc >= 0) return rc;
    const e = errno();
    if (e === E.INTR) continue;
    if (e === E.AGAIN) return 0;
    throw new SysError("send", e, `fd ${fd}`);
  }
}

/**
 * poll(2) off the JS thread: the revents of each entry, in order; all zero
 * when the call failed (EINTR: the caller polls again).
 */
export async function pollAsync(
  entries: readonly { fd: number; events: number }[],
  timeoutMs: number,
): Promise<number[]> {
  const b = new Uint8Array(8 * entries.length);
  const v = new DataView(b.buffer);
  entries.forEach((e, i) => {
    v.setInt32(i * 8, e.fd, true);
    v.setInt16(i * 8 + 4, e.events, true);
  });
  const rc = await sym().poll_nb(b, BigInt(entries.length), timeoutMs);
  return entries.map((_, i) => rc < 0 ? 0 : v.getUint16(i * 8 + 6, true));
}

/** A non-blocking eventfd that interrupts a {@link pollAsync} from the JS thread. */
export class Waker {
  readonly fd: number = eventFd(0, EFD_NONBLOCK);
  #one = new Uint8Array(new BigUint64Array([1n]).buffer);
  #drain = new Uint8Array(8);

  /** Makes the eventfd readable (a poll that includes it returns). */
  wake(): void {
    sym().write(this.fd, this.#one, 8n);
  }

  /** Clears it after a poll saw it readable. */
  drain(): void {
    sym().read(this.fd, this.#drain, 8n);
  }

  close(): void {
    closeFd(this.fd);
  }
}

/** shutdown(2) of both directions; errors (a peer already gone) are ignored. */
export function shutdownBoth(fd: number): void {
  sym().shutdown(fd, SHUT_RDWR);
}
