/**
 * Hand-written protobuf wire helpers for the ttRPC envelope codec: wire-type
 * constants, varint sizing and writing, length-delimited field writing, and
 * `WireReader`, a bounds-checked cursor for decoding.
 * @module
 */
import { InvalidArgumentError } from "../common/errors.ts";

/** The shared empty byte array (decoded empty bytes fields). */
export const EMPTY = new Uint8Array(0);
const decoder = new TextDecoder();

// Wire types of the protobuf encoding.
export const VARINT = 0;
const FIXED64 = 1;
export const LENGTH_DELIMITED = 2;
const START_GROUP = 3;
const END_GROUP = 4;
const FIXED32 = 5;

/** Throws unless field `field` of `message` has the wire type `want`. */
export function expectWireType(field: number, got: number, want: number, message: string): void {
  if (got !== want) {
    throw new InvalidArgumentError(
      `Cannot decode ${message}: field ${field} has wire type ${got}, expected ${want}`,
    );
  }
}

/** Bytes a varint of the non-negative integer `n` takes. */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Writes the varint of the non-negative integer `n` at `pos`; returns the position after it. */
export function putVarint(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/** A negative int64/int32 is encoded as its 64-bit two's complement: ten bytes. */
export function int64Bytes(n: number): Uint8Array {
  let v = BigInt.asUintN(64, BigInt(Math.trunc(n)));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return new Uint8Array(out);
}

/** Size of field `tag` (< 16, one byte) holding a length-delimited value of `len` bytes. */
export function lengthDelimitedSize(len: number): number {
  return 1 + varintSize(len) + len;
}

/** Writes the tag byte, the length and the bytes of a length-delimited field. */
export function putBytes(buf: Uint8Array, pos: number, tag: number, bytes: Uint8Array): number {
  buf[pos++] = tag;
  pos = putVarint(buf, pos, bytes.length);
  buf.set(bytes, pos);
  return pos + bytes.length;
}

/** A cursor over protobuf bytes; every read is bounds-checked. */
export class WireReader {
  buf: Uint8Array;
  pos: number;
  end: number;

  constructor(buf: Uint8Array, pos: number, end: number) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  /** A varint as a number; 64-bit values beyond 2^49 are read exactly and wrapped to int64. */
  varint(): number {
    const buf = this.buf;
    const start = this.pos;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) throw this.#eof(1);
      const b = buf[this.pos++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    this.pos = start;
    return this.#bigVarint();
  }

  #bigVarint(): number {
    const start = this.pos;
    let result = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw this.#eof(1);
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) return Number(BigInt.asIntN(64, result));
    }
    throw new InvalidArgumentError(`Invalid varint at offset ${start}: longer than 10 bytes`);
  }

  /** Reads a length prefix and returns where the bytes start (pos moves past them). */
  lengthDelimited(): number {
    const len = this.varint();
    const start = this.pos;
    if (len < 0) throw new InvalidArgumentError(`Invalid length ${len} at offset ${start}`);
    if (len > this.end - start) throw this.#eof(len);
    this.pos = start + len;
    return start;
  }

  string(): string {
    const start = this.lengthDelimited();
    return start === this.pos ? "" : decoder.decode(this.buf.subarray(start, this.pos));
  }

  bytes(): Uint8Array {
    const start = this.lengthDelimited();
    return start === this.pos ? EMPTY : this.buf.subarray(start, this.pos);
  }

  /** Reads a tag; returns field number * 8 + wire type, as on the wire. */
  tag(): number {
    const tag = this.varint();
    if (tag < 8 || tag > 0xffffffff) throw new InvalidArgumentError(`Illegal tag: ${tag}`);
    return tag;
  }

  skip(wireType: number, field: number): void {
    switch (wireType) {
      case VARINT:
        this.varint();
        return;
      case FIXED64:
        this.#advance(8);
        return;
      case LENGTH_DELIMITED:
        this.lengthDelimited();
        return;
      case FIXED32:
        this.#advance(4);
        return;
      case START_GROUP:
        for (;;) {
          const tag = this.tag();
          if ((tag & 7) === END_GROUP) {
            if (tag >>> 3 !== field) {
              throw new InvalidArgumentError(
                `Invalid end group tag: field ${tag >>> 3}, expected ${field}`,
              );
            }
            return;
          }
          this.skip(tag & 7, tag >>> 3);
        }
      default:
        throw new InvalidArgumentError(`Cannot skip wire type ${wireType}`);
    }
  }

  #advance(n: number): void {
    if (n > this.end - this.pos) throw this.#eof(n);
    this.pos += n;
  }

  #eof(want: number): InvalidArgumentError {
    return new InvalidArgumentError(
      `Premature EOF: ${want} bytes wanted at offset ${this.pos}, ${this.end - this.pos} left`,
    );
  }
}
