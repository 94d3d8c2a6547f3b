/**
 * The virtio-vsock packet header (struct virtio_vsock_hdr, 44 bytes, little
 * endian) and its operations.
 * @module
 */
import { InternalError } from "../../../../common/errors.ts";

export const HEADER_SIZE = 44;
export const TYPE_STREAM = 1;
export const OP = {
  REQUEST: 1,
  RESPONSE: 2,
  RST: 3,
  SHUTDOWN: 4,
  RW: 5,
  CREDIT_UPDATE: 6,
  CREDIT_REQUEST: 7,
} as const;
/** SHUTDOWN flags: the sender will receive / send no more. */
export const SHUTDOWN_RCV = 1;
export const SHUTDOWN_SEND = 2;
export const HOST_CID = 2;

/** A decoded header. */
export interface VsockHeader {
  srcCid: number;
  dstCid: number;
  srcPort: number;
  dstPort: number;
  len: number;
  type: number;
  op: number;
  flags: number;
  bufAlloc: number;
  fwdCnt: number;
}

/** Decodes the first 44 bytes of `b`. */
export function decodeHeader(b: Uint8Array): VsockHeader {
  if (b.length < HEADER_SIZE) {
    throw new InternalError(`vsock packet of ${b.length} bytes has no full header`);
  }
  const v = new DataView(b.buffer, b.byteOffset, HEADER_SIZE);
  return {
    srcCid: Number(v.getBigUint64(0, true)),
    dstCid: Number(v.getBigUint64(8, true)),
    srcPort: v.getUint32(16, true),
    dstPort: v.getUint32(20, true),
    len: v.getUint32(24, true),
    type: v.getUint16(28, true),
    op: v.getUint16(30, true),
    flags: v.getUint32(32, true),
    bufAlloc: v.getUint32(36, true),
    fwdCnt: v.getUint32(40, true),
  };
}

/** Encodes a header followed by `payload`. */
export function encodePacket(h: VsockHeader, payload?: Uint8Array): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(HEADER_SIZE + (payload?.length ?? 0));
  const v = new DataView(b.buffer);
  v.setBigUint64(0, BigInt(h.srcCid), true);
  v.setBigUint64(8, BigInt(h.dstCid), true);
  v.setUint32(16, h.srcPort, true);
  v.setUint32(20, h.dstPort, true);
  v.setUint32(24, payload?.length ?? 0, true);
  v.setUint16(28, h.type, true);
  v.setUint16(30, h.op, true);
  v.setUint32(32, h.flags, true);
  v.setUint32(36, h.bufAlloc, true);
  v.setUint32(40, h.fwdCnt >>> 0, true);
  if (payload) b.set(payload, HEADER_SIZE);
  return b;
}

/** Parses a hybrid vsock command line `CONNECT <port>` (keyword case-insensitive). */
export function parseConnectLine(line: string): number | undefined {
  const m = /^connect\s+(\d{1,10})$/i.exec(line.trim());
  if (!m) return undefined;
  const port = Number(m[1]);
  return port <= 0xffffffff ? port : undefined;
}
