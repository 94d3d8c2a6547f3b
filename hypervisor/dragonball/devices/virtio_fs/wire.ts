/**
 * The FUSE wire format as virtio-fs carries it (Linux `include/uapi/linux/
 * fuse.h`, protocol 7.x): the request and reply headers, a bounds-checked
 * reader for request bodies and a writer for reply bodies, and the encodings
 * of attributes, entries and directory records. Every length the guest sends
 * is checked against the bytes it really sent.
 * @module
 */
import type { Statx } from "../../../../ffi/fs_at.ts";

/** FUSE request opcodes the server knows. */
export const OP = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  DESTROY: 38,
  BATCH_FORGET: 42,
  FALLOCATE: 43,
  READDIRPLUS: 44,
  RENAME2: 45,
  LSEEK: 46,
  COPY_FILE_RANGE: 47,
  SETUPMAPPING: 48,
  REMOVEMAPPING: 49,
  SYNCFS: 50,
} as const;

/** Size of `fuse_in_header`. */
export const IN_HEADER = 40;
/** Size of `fuse_out_header`. */
export const OUT_HEADER = 16;
/** Size of `fuse_attr`. */
const ATTR_SIZE = 88;
/** Size of `fuse_entry_out`. */
export const ENTRY_OUT_SIZE = 40 + ATTR_SIZE;
/** Size of `fuse_dirent` without its name. */
const DIRENT_BASE = 24;

/** A request body shorter than its fields, or a field out of range. */
export class FuseWireError extends Error {
  /** The status name should such a failure ever leave the device (the guest gets EINVAL). */
  readonly code = "InvalidArgument";
  constructor(message: string) {
    super(message);
    this.name = "FuseWireError";
  }
}

/** `fuse_in_header`. */
export interface InHeader {
  len: number;
  opcode: number;
  unique: bigint;
  nodeid: bigint;
  uid: number;
  gid: number;
  pid: number;
}

/** Parses the request header; the request must hold exactly `len` bytes or more. */
export function parseInHeader(req: Uint8Array): InHeader {
  if (req.length < IN_HEADER) {
    throw new FuseWireError(`FUSE request of ${req.length} bytes is shorter than its header`);
  }
  const v = new DataView(req.buffer, req.byteOffset, req.length);
  const h = {
    len: v.getUint32(0, true),
    opcode: v.getUint32(4, true),
    unique: v.getBigUint64(8, true),
    nodeid: v.getBigUint64(16, true),
    uid: v.getUint32(24, true),
    gid: v.getUint32(28, true),
    pid: v.getUint32(32, true),
  };
  if (h.len < IN_HEADER || h.len > req.length) {
    throw new FuseWireError(
      `FUSE request length ${h.len} does not match the ${req.length} bytes sent`,
    );
  }
  return h;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Reads the fields of a request body in order; reading past the end throws. */
export class BodyReader {
  #off = 0;
  readonly #v: DataView;

  constructor(readonly buf: Uint8Array<ArrayBuffer>) {
    this.#v = new DataView(buf.buffer, buf.byteOffset, buf.length);
  }

  #need(n: number, what: string): number {
    const o = this.#off;
    if (o + n > this.buf.length) {
      throw new FuseWireError(`FUSE request ends before its ${what}`);
    }
    this.#off += n;
    return o;
  }

  /** Bytes not yet read. */
  get remaining(): number {
    return this.buf.length - this.#off;
  }

  u16(what: string): number {
    return this.#v.getUint16(this.#need(2, what), true);
  }

  u32(what: string): number {
    return this.#v.getUint32(this.#need(4, what), true);
  }

  u64(what: string): bigint {
    return this.#v.getBigUint64(this.#need(8, what), true);
  }

  /** A u64 that must fit a safe JS number (offsets, sizes). */
  num(what: string): number {
    const n = this.u64(what);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new FuseWireError(`FUSE ${what} ${n} is too large`);
    }
    return Number(n);
  }

  skip(n: number, what: string): void {
    this.#need(n, what);
  }

  /** A copy of `n` raw bytes (the request buffer is reused after the request). */
  bytes(n: number, what: string): Uint8Array<ArrayBuffer> {
    const o = this.#need(n, what);
    return this.buf.slice(o, o + n);
  }

  /** `n` raw bytes in place: valid only while the request is served (write data). */
  view(n: number, what: string): Uint8Array<ArrayBuffer> {
    const o = this.#need(n, what);
    return this.buf.subarray(o, o + n);
  }

  /** A NUL-terminated string of at most `max` bytes (names, link targets, xattr names). */
  cstr(what: string, max: number): string {
    const end = this.buf.indexOf(0, this.#off);
    if (end < 0) throw new FuseWireError(`FUSE ${what} is not NUL-terminated`);
    if (end - this.#off > max) throw new FuseWireError(`FUSE ${what} is longer than ${max} bytes`);
    const raw = this.buf.subarray(this.#off, end);
    this.#off = end + 1;
    try {
      return decoder.decode(raw);
    } catch {
      throw new FuseWireError(`FUSE ${what} is not UTF-8`);
    }
  }
}

/** Builds a reply body of little-endian fields. */
export class BodyWriter {
  #buf = new Uint8Array(256);
  #v = new DataView(this.#buf.buffer);
  #len = 0;

  get length(): number {
    return this.#len;
  }

  #room(n: number): number {
    const o = this.#len;
    if (o + n > this.#buf.length) {
      const next = new Uint8Array(Math.max(this.#buf.length * 2, o + n));
      next.set(this.#buf.subarray(0, o));
      this.#buf = next;
      this.#v = new DataView(next.buffer);
    }
    this.#len += n;
    return o;
  }

  u16(n: number): this {
    const o = this.#room(2);
    this.#v.setUint16(o, n, true);
    return this;
  }

  u32(n: number): this {
    const o = this.#room(4);
    this.#v.setUint32(o, n >>> 0, true);
    return this;
  }

  u64(n: number | bigint): this {
    const o = this.#room(8);
    this.#v.setBigUint64(o, BigInt.asUintN(64, BigInt(n)), true);
    return this;
  }

  bytes(b: Uint8Array): this {
    const o = this.#room(b.length); // may replace the buffer: take the offset first
    this.#buf.set(b, o);
    return this;
  }

  /** Zero bytes up to a multiple of 8 (dirent padding). */
  pad8(): this {
    this.#room((8 - (this.#len % 8)) % 8);
    return this;
  }

  /** `n` zero bytes. */
  zeros(n: number): this {
    this.#room(n);
    return this;
  }

  finish(): Uint8Array<ArrayBuffer> {
    return this.#buf.slice(0, this.#len);
  }
}

/** The whole reply: `fuse_out_header` (len, error 0, unique) then `body`. */
export function okReply(
  unique: bigint,
  body: Uint8Array = new Uint8Array(0),
): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(OUT_HEADER + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, out.length, true);
  v.setBigUint64(8, unique, true);
  out.set(body, OUT_HEADER);
  return out;
}

/**
 * A success reply built in place: `buf` holds the body at OUT_HEADER and
 * room for the header before it (read data, so a megabyte is not copied).
 */
export function okReplyInPlace(
  unique: bigint,
  buf: Uint8Array<ArrayBuffer>,
  bodyLength: number,
): Uint8Array<ArrayBuffer> {
  const out = buf.subarray(0, OUT_HEADER + bodyLength);
  const v = new DataView(out.buffer, out.byteOffset, OUT_HEADER);
  v.setUint32(0, out.length, true);
  v.setInt32(4, 0, true);
  v.setBigUint64(8, unique, true);
  return out;
}

/** An error reply: the out header alone, with error = -errno. */
export function errorReply(unique: bigint, errno: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(OUT_HEADER);
  const v = new DataView(out.buffer);
  v.setUint32(0, OUT_HEADER, true);
  v.setInt32(4, -Math.abs(errno), true);
  v.setBigUint64(8, unique, true);
  return out;
}

/** A time-out in FUSE's split form (whole seconds, nanoseconds). */
export interface Timeout {
  sec: bigint;
  nsec: number;
}

/** A time-out of `seconds` (may be fractional). */
export function timeout(seconds: number): Timeout {
  const whole = Math.floor(seconds);
  return { sec: BigInt(whole), nsec: Math.round((seconds - whole) * 1e9) };
}

/** `fuse_attr.flags`: this directory is the root of another host file system (a submount). */
export const ATTR_SUBMOUNT = 1;

/** `fuse_attr` of `st`, with `fuse_attr.flags`. */
function writeAttr(w: BodyWriter, st: Statx, flags = 0): BodyWriter {
  return w.u64(st.ino).u64(st.size).u64(st.blocks).u64(st.atime).u64(st.mtime).u64(st.ctime)
    .u32(st.atimeNs).u32(st.mtimeNs).u32(st.ctimeNs).u32(st.mode).u32(st.nlink).u32(st.uid)
    .u32(st.gid).u32(st.rdev).u32(st.blksize).u32(flags);
}

/** `fuse_entry_out`: a node the guest now holds one more lookup of. */
export function writeEntry(
  w: BodyWriter,
  nodeid: bigint,
  generation: bigint,
  entry: Timeout,
  attr: Timeout,
  st: Statx,
  flags = 0,
): BodyWriter {
  w.u64(nodeid).u64(generation).u64(entry.sec).u64(attr.sec).u32(entry.nsec).u32(attr.nsec);
  return writeAttr(w, st, flags);
}

/** `fuse_attr_out`. */
export function writeAttrOut(w: BodyWriter, attr: Timeout, st: Statx): BodyWriter {
  return writeAttr(w.u64(attr.sec).u32(attr.nsec).u32(0), st);
}

/** Bytes a `fuse_dirent` with a name of `nameLen` bytes takes (padded to 8). */
export function direntSize(nameLen: number): number {
  return (DIRENT_BASE + nameLen + 7) & ~7;
}

/** `fuse_dirent`: ino, the offset of the next entry, name length, type, name (padded). */
export function writeDirent(
  w: BodyWriter,
  ino: bigint,
  nextOff: bigint,
  type: number,
  name: Uint8Array,
): BodyWriter {
  return w.u64(ino).u64(nextOff).u32(name.length).u32(type).bytes(name).pad8();
}
