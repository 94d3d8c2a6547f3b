/**
 * Netlink framing as bytes: message types and flags, the `nlmsghdr` envelope,
 * attribute (TLV) building and parsing, NLMSG_ERROR decoding, and the textual
 * MAC/IP address formats the rtnetlink messages use. No system calls; layouts
 * follow `linux/netlink.h` and `linux/rtnetlink.h`, all integers host
 * (little-endian) order. Re-exported by `rtnetlink_msg.ts`.
 * @module
 */
import { FfiError } from "./errors.ts";

/** Netlink message types used by the project. */
export const NLMSG = { ERROR: 2, DONE: 3 } as const;
export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  SETLINK: 19,
  NEWADDR: 20,
  GETADDR: 22,
  NEWROUTE: 24,
  DELROUTE: 25,
  GETROUTE: 26,
  NEWNEIGH: 28,
  GETNEIGH: 30,
  NEWQDISC: 36,
  DELQDISC: 37,
  GETQDISC: 38,
  NEWTFILTER: 44,
  DELTFILTER: 45,
  GETTFILTER: 46,
} as const;
/** nlmsghdr flags. */
export const NLM_F = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  DUMP: 0x300,
  EXCL: 0x200,
  CREATE: 0x400,
  CAPPED: 0x100,
  ACK_TLVS: 0x200,
} as const;
const NLMSGERR_ATTR_MSG = 1;

const HDR = 16;
const align4 = (n: number) => (n + 3) & ~3;
const te = new TextEncoder();
const td = new TextDecoder();

/** One attribute, padded to 4 bytes. */
export function attr(type: number, data: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(align4(4 + data.length));
  const v = new DataView(out.buffer);
  v.setUint16(0, 4 + data.length, true);
  v.setUint16(2, type, true);
  out.set(data, 4);
  return out;
}

/** A u32 attribute. */
export function attrU32(type: number, value: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value >>> 0, true);
  return attr(type, b);
}

/** A NUL-terminated string attribute. */
export function attrStr(type: number, value: string): Uint8Array<ArrayBuffer> {
  const s = te.encode(value);
  const b = new Uint8Array(s.length + 1);
  b.set(s);
  return attr(type, b);
}

/** A nested attribute holding `children`. */
export function nest(type: number, children: Uint8Array[]): Uint8Array<ArrayBuffer> {
  return attr(type, concat(children));
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** A whole netlink message: header, fixed family header and attributes. */
export function message(
  type: number,
  flags: number,
  seq: number,
  family: Uint8Array,
  attrs: Uint8Array[] = [],
): Uint8Array<ArrayBuffer> {
  const body = concat([family, new Uint8Array(align4(family.length) - family.length), ...attrs]);
  const out = new Uint8Array(HDR + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, out.length, true);
  v.setUint16(4, type, true);
  v.setUint16(6, flags, true);
  v.setUint32(8, seq >>> 0, true);
  v.setUint32(12, 0, true);
  out.set(body, HDR);
  return out;
}

/** A parsed netlink message; `payload` starts at the family header. */
export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  payload: Uint8Array;
}

/** Splits one received datagram into its messages. */
export function parseMessages(buf: Uint8Array): NlMessage[] {
  const out: NlMessage[] = [];
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  while (off + HDR <= buf.length) {
    const len = v.getUint32(off, true);
    if (len < HDR || off + len > buf.length) {
      throw new FfiError("Internal", `Malformed netlink message: length ${len} at offset ${off}`);
    }
    out.push({
      type: v.getUint16(off + 4, true),
      flags: v.getUint16(off + 6, true),
      seq: v.getUint32(off + 8, true),
      payload: buf.subarray(off + HDR, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** Attributes of one level, keyed by type (nested flag bits masked off; last one wins). */
export function parseAttrs(buf: Uint8Array, start = 0): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = start;
  while (off + 4 <= buf.length) {
    const len = v.getUint16(off, true);
    const type = v.getUint16(off + 2, true) & 0x3fff;
    if (len < 4 || off + len > buf.length) break;
    out.set(type, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

/** A u32 attribute payload as a number, undefined when absent or short (internal to ffi/). */
export const u32 = (b: Uint8Array | undefined): number | undefined =>
  b && b.length >= 4 ? new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true) : undefined;
/** A string attribute payload up to its NUL, undefined when absent (internal to ffi/). */
export const str = (b: Uint8Array | undefined): string | undefined => {
  if (!b) return undefined;
  const z = b.indexOf(0);
  return td.decode(z < 0 ? b : b.subarray(0, z));
};

/** The outcome carried by an NLMSG_ERROR message: 0 is an ACK. */
export interface NlError {
  /** Positive errno, 0 for success. */
  errno: number;
  /** The kernel's extended-ACK text, when it sent one. */
  message?: string;
}

/** Parses an NLMSG_ERROR payload. */
export function parseError(msg: NlMessage): NlError {
  const v = new DataView(msg.payload.buffer, msg.payload.byteOffset, msg.payload.byteLength);
  const code = v.getInt32(0, true);
  const errno = code < 0 ? -code : code;
  let message: string | undefined;
  if (msg.flags & NLM_F.ACK_TLVS) {
    // After the error code comes the offending request: only its header when capped.
    const origLen = msg.flags & NLM_F.CAPPED ? HDR : v.getUint32(4, true);
    message = str(parseAttrs(msg.payload, 4 + align4(origLen)).get(NLMSGERR_ATTR_MSG));
  }
  return { errno, message };
}

// ---- address formats -------------------------------------------------------

/** "aa:bb:cc:dd:ee:ff" from raw bytes. */
export function formatMac(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/** Raw bytes from "aa:bb:cc:dd:ee:ff"; throws on anything else. */
export function parseMac(s: string): Uint8Array {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(s)) {
    throw new FfiError(
      "InvalidArgument",
      `Invalid MAC address ${JSON.stringify(s)}: expected six hex bytes`,
    );
  }
  return new Uint8Array(s.split(":").map((x) => parseInt(x, 16)));
}

/** Raw bytes of a dotted IPv4 address; throws on anything else. */
export function parseIp4(s: string): Uint8Array {
  const parts = s.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) < 256)) {
    throw new FfiError("InvalidArgument", `Invalid IPv4 address ${JSON.stringify(s)}`);
  }
  return new Uint8Array(parts.map(Number));
}

/** Text form of a 4-byte (IPv4) or 16-byte (IPv6, RFC 5952 compressed) address. */
export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return [...b].join(".");
  if (b.length !== 16) return formatMac(b);
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((b[i] << 8) | b[i + 1]);
  // The longest run (of two or more) of zero words becomes "::".
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(":");
  if (best < 0) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}
