/**
 * Socket system calls the project needs beyond Deno's own sockets: raw
 * AF_NETLINK sockets for rtnetlink and AF_INET datagram sockets for interface
 * ioctls (ethtool). Every function takes or returns plain fds; the caller owns
 * them and closes them with `closeFd`.
 * @module
 */
import { cstr, lazyLibc } from "./libc.ts";
import { check, E, errno, SysError } from "./errno.ts";
import { FfiError } from "./errors.ts";

const symbols = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
} as const;

const sym = lazyLibc(symbols);

/** Address families, socket types and protocols used by the project. */
export const AF = { UNSPEC: 0, UNIX: 1, INET: 2, NETLINK: 16, INET6: 10 } as const;
export const SOCK = { STREAM: 1, DGRAM: 2, RAW: 3, CLOEXEC: 0o2000000, NONBLOCK: 0o4000 } as const;
export const NETLINK_ROUTE = 0;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SOL_NETLINK = 270;
const NETLINK_EXT_ACK = 11;

/** socket(2) with SOCK_CLOEXEC; the caller owns the fd. */
export function openSocket(family: number, type: number, protocol: number): number {
  return check(
    sym().socket(family, type | SOCK.CLOEXEC, protocol),
    "socket",
    `family ${family} type ${type}`,
  );
}

/** Binds a netlink socket to a kernel-assigned port id with no multicast groups. */
export function bindNetlink(fd: number): void {
  // struct sockaddr_nl: family u16, pad u16, pid u32, groups u32
  const addr = new Uint8Array(12);
  new DataView(addr.buffer).setUint16(0, AF.NETLINK, true);
  check(sym().bind(fd, addr, addr.length), "bind", "netlink socket");
}

/** Asks for extended error messages and a larger receive buffer (best effort). */
export function tuneNetlink(fd: number): void {
  const one = new Uint8Array(4);
  new DataView(one.buffer).setInt32(0, 1, true);
  sym().setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, one, 4);
  const size = new Uint8Array(4);
  new DataView(size.buffer).setInt32(0, 1 << 20, true);
  sym().setsockopt(fd, SOL_SOCKET, SO_RCVBUF, size, 4);
}

/** send(2) of the whole buffer in one datagram. */
export function sendAll(fd: number, buf: Uint8Array<ArrayBuffer>): void {
  for (;;) {
    const n = Number(sym().send(fd, buf, BigInt(buf.length), 0));
    if (n >= 0) {
      if (n !== buf.length) {
        throw new FfiError(
          "Internal",
          `Short send on fd ${fd}: ${n} of ${buf.length} bytes of the datagram`,
        );
      }
      return;
    }
    const e = errno();
    if (e !== E.INTR) throw new SysError("send", e, `fd ${fd}`);
  }
}

/** recv(2) of one datagram into `buf`; returns its length. Blocks the JS thread. */
export function recvInto(fd: number, buf: Uint8Array<ArrayBuffer>): number {
  for (;;) {
    const n = Number(sym().recv(fd, buf, BigInt(buf.length), 0));
    if (n >= 0) return n;
    const e = errno();
    if (e !== E.INTR) throw new SysError("recv", e, `fd ${fd}`);
  }
}

/** sun_path's size in `struct sockaddr_un` (the NUL included). */
const SUN_PATH_MAX = 108;

/**
 * A `struct sockaddr_un` for the Unix socket `path`; `op` ("Bind",
 * "Connect") names the operation in the error for a path too long.
 */
export function unixSockaddr(path: string, op: string): Uint8Array<ArrayBuffer> {
  const name = cstr(path);
  if (name.length > SUN_PATH_MAX) throw new SysError(op, E.NAMETOOLONG, path);
  const addr = new Uint8Array(2 + SUN_PATH_MAX);
  new DataView(addr.buffer).setUint16(0, AF.UNIX, true);
  addr.set(name, 2);
  return addr;
}
