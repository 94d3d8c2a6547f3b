/**
 * The 9P2000.L wire format: message type numbers, a bounds-checked reader
 * for requests and a growing writer for replies. Pure (no I/O), so every
 * malformed request shows up as a {@link WireError} the server turns into an
 * error reply for that request alone.
 * @module
 */

/** 9P2000.L message types (T = request; the reply is T + 1). */
export const P9 = {
  Rlerror: 7,
  Tstatfs: 8,
  Tlopen: 12,
  Tlcreate: 14,
  Tsymlink: 16,
  Tmknod: 18,
  Trename: 20,
  Treadlink: 22,
  Tgetattr: 24,
  Tsetattr: 26,
  Txattrwalk: 30,
  Txattrcreate: 32,
  Treaddir: 40,
  Tfsync: 50,
  Tlock: 52,
  Tgetlock: 54,
  Tlink: 70,
  Tmkdir: 72,
  Trenameat: 74,
  Tunlinkat: 76,
  Tversion: 100,
  Tauth: 102,
  Tattach: 104,
  Tflush: 108,
  Twalk: 110,
  Tread: 116,
  Twrite: 118,
  Tclunk: 120,
  Tremove: 122,
} as const;

/** Size of the common header: size[4] type[1] tag[2]. */
export const HEADER_SIZE = 7;
/** Size of a qid on the wire: type[1] version[4] path[8]. */
const QID_SIZE = 13;

/** Qid type bits. */
export const QT = { DIR: 0x80, SYMLINK: 0x02, FILE: 0 } as const;

/** A server's unique id for a file. */
export interface Qid {
  type: number;
  version: number;
  path: bigint;
}

/** A request that does not follow the 9P wire format. */
export class WireError extends Error {
  /** The guest broke the 9p wire format. */
  readonly code = "Internal";
  constructor(message: string) {
    super(message);
    this.name = "WireError";
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

/** Reads fields of a message in order, refusing reads past its end. */
export class Reader {
  #off = 0;
  readonly #dv: DataView;

  constructor(readonly bytes: Uint8Array) {
    this.#dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Bytes not yet read. */
  get remaining(): number {
    return this.bytes.length - this.#off;
  }

  #take(n: number, what: string): number {
    if (this.#off + n > this.bytes.length) {
      throw new WireError(`Message ends inside its ${what} field`);
    }
    const at = this.#off;
    this.#off += n;
    return at;
  }

  u8(what = "u8"): number {
    return this.#dv.getUint8(this.#take(1, what));
  }
  u16(what = "u16"): number {
    return this.#dv.getUint16(this.#take(2, what), true);
  }
  u32(what = "u32"): number {
    return this.#dv.getUint32(this.#take(4, what), true);
  }
  u64(what = "u64"): bigint {
    return this.#dv.getBigUint64(this.#take(8, what), true);
  }
  /** A u64 that must fit a safe JS number (offsets, sizes). */
  num(what = "u64"): number {
    const v = this.u64(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new WireError(`${what} ${v} is too large`);
    return Number(v);
  }
  /** A string: len[2] then UTF-8 bytes. */
  str(what = "string"): string {
    const n = this.u16(what);
    const at = this.#take(n, what);
    try {
      return dec.decode(this.bytes.subarray(at, at + n));
    } catch {
      throw new WireError(`${what} is not valid UTF-8`);
    }
  }
  /** `n` raw bytes. */
  bytesOf(n: number, what = "data"): Uint8Array {
    const at = this.#take(n, what);
    return this.bytes.subarray(at, at + n);
  }
}

/** Builds one reply message; {@link finish} fills in the size. */
export class Writer {
  #buf = new Uint8Array(256);
  #dv = new DataView(this.#buf.buffer);
  #len = 0;

  /** Starts a reply of `type` for request `tag`. */
  constructor(type: number, tag: number) {
    this.u32(0);
    this.u8(type);
    this.u16(tag);
  }

  #room(n: number): number {
    if (this.#len + n > this.#buf.length) {
      const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + n));
      next.set(this.#buf.subarray(0, this.#len));
      this.#buf = next;
      this.#dv = new DataView(next.buffer);
    }
    const at = this.#len;
    this.#len += n;
    return at;
  }

  u8(v: number): this {
    const at = this.#room(1); // #room may replace the buffer: take the offset first
    this.#dv.setUint8(at, v);
    return this;
  }
  u16(v: number): this {
    const at = this.#room(2);
    this.#dv.setUint16(at, v, true);
    return this;
  }
  u32(v: number): this {
    const at = this.#room(4);
    this.#dv.setUint32(at, v >>> 0, true);
    return this;
  }
  u64(v: number | bigint): this {
    const at = this.#room(8);
    this.#dv.setBigUint64(at, BigInt.asUintN(64, BigInt(v)), true);
    return this;
  }
  str(s: string): this {
    const b = enc.encode(s);
    if (b.length > 0xffff) throw new WireError("String is longer than 65535 bytes");
    this.u16(b.length);
    const at = this.#room(b.length);
    this.#buf.set(b, at);
    return this;
  }
  qid(q: Qid): this {
    return this.u8(q.type).u32(q.version).u64(q.path);
  }
  bytes(b: Uint8Array): this {
    const at = this.#room(b.length);
    this.#buf.set(b, at);
    return this;
  }
  /** Bytes written so far. */
  get length(): number {
    return this.#len;
  }
  /** The finished message with its size field set. */
  finish(): Uint8Array {
    this.#dv.setUint32(0, this.#len, true);
    return this.#buf.slice(0, this.#len);
  }
}

/** Encoded size of a directory entry in Rreaddir: qid, offset[8], type[1], name[s]. */
export function direntSize(name: string): number {
  return QID_SIZE + 8 + 1 + 2 + enc.encode(name).length;
}

/** The header of a request. */
interface Header {
  size: number;
  type: number;
  tag: number;
}

/** Parses the header, checking the size field against the bytes received. */
export function readHeader(r: Reader): Header {
  const size = r.u32("size");
  const type = r.u8("type");
  const tag = r.u16("tag");
  if (size < HEADER_SIZE || size > r.bytes.length) {
    throw new WireError(`Size field ${size} does not match the ${r.bytes.length} bytes received`);
  }
  return { size, type, tag };
}

/** An Rlerror reply carrying a Linux errno. */
export function lerror(tag: number, errno: number): Uint8Array {
  return new Writer(P9.Rlerror, tag).u32(errno).finish();
}
