/**
 * Taps through `/dev/net/tun` and macvtap character devices: create a
 * persistent tap inside a network namespace, open its queues for a VMM, and
 * read/write frames through the returned fds (Deno cannot adopt raw fds as
 * streams, so frames go through FFI).
 * @module
 */
import { E, SysError } from "./errno.ts";
import { closeFd, closeFdsQuietly, O, openFd, readFdNonBlocking, writeFdOnce } from "./fd.ts";
import { ioctlBuf, ioctlVal } from "./ioctl.ts";
import { FfiError } from "./errors.ts";
import { inNetns } from "./netns.ts";

const TUNSETIFF = 0x400454ca;
const TUNSETPERSIST = 0x400454cb;
const TUNSETVNETHDRSZ = 0x400454d8;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;
const IFF_ONE_QUEUE = 0x2000;
const IFF_VNET_HDR = 0x4000;
const IFF_MULTI_QUEUE = 0x0100;
const IFNAMSIZ = 16;

/** Size of the `virtio_net_hdr` the kernel prepends to every frame by default. */
export const VNET_HDR_LEN = 10;

/**
 * The TUNSETIFF flags for a tap with `queues` queues: always a vnet header;
 * multi-queue only when more than one queue (a VMM such as Firecracker opens
 * taps single-queue and fails on a multi-queue tap).
 */
export function tapFlags(queues: number): number {
  return IFF_TAP | IFF_VNET_HDR | IFF_NO_PI | (queues > 1 ? IFF_MULTI_QUEUE : IFF_ONE_QUEUE);
}

/** A `struct ifreq` holding `name` and a short flags value. */
export function ifreq(name: string, flags = 0): Uint8Array<ArrayBuffer> {
  const n = new TextEncoder().encode(name);
  if (n.length === 0 || n.length >= IFNAMSIZ) {
    throw new FfiError(
      "InvalidArgument",
      `Invalid interface name ${JSON.stringify(name)}: 1 to 15 bytes`,
    );
  }
  const b = new Uint8Array(40);
  b.set(n);
  new DataView(b.buffer).setUint16(IFNAMSIZ, flags, true);
  return b;
}

function checkQueues(queues: number): void {
  if (!Number.isInteger(queues) || queues < 1 || queues > 256) {
    throw new FfiError("InvalidArgument", `Invalid queue count ${queues}: 1 to 256`);
  }
}

/** Opens one queue of tap `name` (creating the tap when absent); the caller owns the fd. */
function attachQueue(name: string, queues: number, nonblocking: boolean): number {
  const fd = openFd("/dev/net/tun", O.RDWR | (nonblocking ? O.NONBLOCK : 0));
  try {
    ioctlBuf(fd, TUNSETIFF, ifreq(name, tapFlags(queues)), `TUNSETIFF ${name}`);
    return fd;
  } catch (e) {
    closeFd(fd);
    throw e;
  }
}

/**
 * Creates the persistent tap `name` inside the namespace at `netns` and
 * leaves it there with no fd attached (as runtime-rs does).
 */
export function createTap(netns: string, name: string, queues: number): void {
  checkQueues(queues);
  const fd = inNetns(netns, () => attachQueue(name, queues, false));
  try {
    ioctlVal(fd, TUNSETPERSIST, 1, `TUNSETPERSIST ${name}`);
  } finally {
    closeFd(fd);
  }
}

/** Options for {@link openTap}. */
interface OpenTapOptions {
  /** O_NONBLOCK on every fd (reads then return null instead of blocking). */
  nonblocking?: boolean;
}

/**
 * Opens `queues` fds on tap `name` in `netns` for a VMM to read and write
 * frames (each frame preceded by a {@link VNET_HDR_LEN}-byte vnet header).
 * `queues` must match the count the tap was created with. Close every fd
 * with {@link closeTapFds}.
 */
export function openTap(
  netns: string,
  name: string,
  queues: number,
  opts: OpenTapOptions = {},
): number[] {
  checkQueues(queues);
  const fds: number[] = [];
  try {
    inNetns(netns, () => {
      for (let i = 0; i < queues; i++) fds.push(attachQueue(name, queues, !!opts.nonblocking));
    });
    return fds;
  } catch (e) {
    closeTapFds(fds);
    throw e;
  }
}

/**
 * Opens `queues` fds on the macvtap whose ifindex is `index` through its
 * character device `/dev/tap<index>` (made by devtmpfs). The kernel enables
 * the vnet header on macvtap fds by default.
 */
export function openMacvtap(index: number, queues: number, opts: OpenTapOptions = {}): number[] {
  checkQueues(queues);
  const path = `/dev/tap${index}`;
  const fds: number[] = [];
  try {
    for (let i = 0; i < queues; i++) {
      fds.push(openFd(path, O.RDWR | (opts.nonblocking ? O.NONBLOCK : 0)));
    }
    return fds;
  } catch (e) {
    closeTapFds(fds);
    if (e instanceof SysError && e.errno === E.NOENT) {
      throw new SysError("open", 2, `${path} (macvtap character device; is /dev a devtmpfs?)`);
    }
    throw e;
  }
}

/** Closes every fd from {@link openTap} or {@link openMacvtap}. */
export function closeTapFds(fds: number[]): void {
  closeFdsQuietly(fds.splice(0));
}

/** Sets the vnet header size of a tap fd (10, or 12 for mergeable rx buffers). */
export function setVnetHdrSize(fd: number, size: number): void {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, size, true);
  ioctlBuf(fd, TUNSETVNETHDRSZ, b, "TUNSETVNETHDRSZ");
}

/**
 * Reads one frame (with its vnet header) from a non-blocking tap fd; returns
 * its length, or null when none is waiting.
 */
export function readFrame(fd: number, buf: Uint8Array<ArrayBuffer>): number | null {
  return readFdNonBlocking(fd, buf, `tap fd ${fd}`);
}

/** Writes one frame (with its vnet header) to a tap fd. */
export function writeFrame(fd: number, frame: Uint8Array<ArrayBuffer>): void {
  const n = writeFdOnce(fd, frame, `tap fd ${fd}`);
  if (n !== frame.length) {
    throw new FfiError(
      "Internal",
      `Short write to tap fd ${fd}: ${n} of ${frame.length} bytes of the frame`,
    );
  }
}
