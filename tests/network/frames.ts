/**
 * Ethernet frames for the traffic tests: ARP requests and ICMP echo requests
 * built byte by byte with the 10-byte vnet header a tap fd expects, and
 * parsers for the replies read back from the tap.
 * @module
 */
import { VNET_HDR_LEN } from "../../ffi/tun.ts";
import { formatMac, parseMac } from "../../ffi/rtnetlink_msg.ts";

const ipBytes = (s: string) => s.split(".").map(Number);

/** Internet checksum (RFC 1071). */
export function checksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += (b[i] << 8) | (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** vnet header + Ethernet header + payload. */
function frame(dst: string, src: string, type: number, payload: Uint8Array) {
  const f = new Uint8Array(VNET_HDR_LEN + 14 + payload.length);
  f.set(parseMac(dst), VNET_HDR_LEN);
  f.set(parseMac(src), VNET_HDR_LEN + 6);
  new DataView(f.buffer).setUint16(VNET_HDR_LEN + 12, type);
  f.set(payload, VNET_HDR_LEN + 14);
  return f;
}

function arp(op: number, srcMac: string, srcIp: string, dstMac: string, dstIp: string) {
  const a = new Uint8Array(28);
  const v = new DataView(a.buffer);
  v.setUint16(0, 1); // Ethernet
  v.setUint16(2, 0x0800);
  a[4] = 6;
  a[5] = 4;
  v.setUint16(6, op);
  a.set(parseMac(srcMac), 8);
  a.set(ipBytes(srcIp), 14);
  if (op === 2) a.set(parseMac(dstMac), 18);
  a.set(ipBytes(dstIp), 24);
  return frame(dstMac, srcMac, 0x0806, a);
}

/** A broadcast ARP request "who has `targetIp`? tell `srcIp`". */
export function arpRequest(srcMac: string, srcIp: string, targetIp: string) {
  return arp(1, srcMac, srcIp, "ff:ff:ff:ff:ff:ff", targetIp);
}

/** An ARP reply "`srcIp` is at `srcMac`" to (dstMac, dstIp). */
export function arpReply(srcMac: string, srcIp: string, dstMac: string, dstIp: string) {
  return arp(2, srcMac, srcIp, dstMac, dstIp);
}

/** An ARP request's sender and target, when `f` is one. */
export function parseArpRequest(
  f: Uint8Array,
): { mac: string; ip: string; target: string } | null {
  const e = f.subarray(VNET_HDR_LEN);
  if (e.length < 42) return null;
  const v = new DataView(e.buffer, e.byteOffset, e.byteLength);
  if (v.getUint16(12) !== 0x0806 || v.getUint16(20) !== 1) return null;
  return {
    mac: formatMac(e.subarray(22, 28)),
    ip: [...e.subarray(28, 32)].join("."),
    target: [...e.subarray(38, 42)].join("."),
  };
}

/** An ICMP echo request from (srcMac, srcIp) to (dstMac, dstIp). */
export function icmpEcho(
  srcMac: string,
  srcIp: string,
  dstMac: string,
  dstIp: string,
  id: number,
  seq: number,
) {
  const data = new TextEncoder().encode("runtime-ts tap traffic test");
  const icmp = new Uint8Array(8 + data.length);
  const iv = new DataView(icmp.buffer);
  icmp[0] = 8; // echo request
  iv.setUint16(4, id);
  iv.setUint16(6, seq);
  icmp.set(data, 8);
  iv.setUint16(2, checksum(icmp));
  const ip = new Uint8Array(20 + icmp.length);
  const pv = new DataView(ip.buffer);
  ip[0] = 0x45;
  pv.setUint16(2, ip.length);
  pv.setUint16(4, id);
  ip[8] = 64; // TTL
  ip[9] = 1; // ICMP
  ip.set(ipBytes(srcIp), 12);
  ip.set(ipBytes(dstIp), 16);
  pv.setUint16(10, checksum(ip.subarray(0, 20)));
  ip.set(icmp, 20);
  return frame(dstMac, srcMac, 0x0800, ip);
}

/** An ARP reply's sender, when `f` (read from a tap, vnet header included) is one. */
export function parseArpReply(f: Uint8Array): { mac: string; ip: string; to: string } | null {
  const e = f.subarray(VNET_HDR_LEN);
  if (e.length < 42) return null;
  const v = new DataView(e.buffer, e.byteOffset, e.byteLength);
  if (v.getUint16(12) !== 0x0806 || v.getUint16(20) !== 2) return null;
  return {
    mac: formatMac(e.subarray(22, 28)),
    ip: [...e.subarray(28, 32)].join("."),
    to: formatMac(e.subarray(0, 6)),
  };
}

/** An ICMP echo reply's source, id and sequence, when `f` is one. */
export function parseEchoReply(f: Uint8Array): { from: string; id: number; seq: number } | null {
  const e = f.subarray(VNET_HDR_LEN);
  if (e.length < 14 + 28) return null;
  const v = new DataView(e.buffer, e.byteOffset, e.byteLength);
  if (v.getUint16(12) !== 0x0800 || e[14 + 9] !== 1) return null;
  const ihl = (e[14] & 0x0f) * 4;
  if (e[14 + ihl] !== 0) return null; // echo reply
  return {
    from: [...e.subarray(26, 30)].join("."),
    id: v.getUint16(14 + ihl + 4),
    seq: v.getUint16(14 + ihl + 6),
  };
}

/**
 * Reads frames from non-blocking tap fds until `match` accepts one or
 * `timeoutMs` passes (then returns null); other frames (IPv6 noise) are
 * skipped. `resend` runs at once and then every 200 ms, the way a guest
 * retransmits: a tap's transmit queue becomes active only a moment after its
 * first fd attaches, and a reply sent before that is dropped by the kernel.
 */
export async function waitFrame<T>(
  fds: number[],
  read: (fd: number, buf: Uint8Array<ArrayBuffer>) => number | null,
  match: (f: Uint8Array) => T | null,
  resend?: () => void,
  timeoutMs = 5000,
): Promise<T | null> {
  const buf = new Uint8Array(65536 + VNET_HDR_LEN);
  const deadline = Date.now() + timeoutMs;
  let nextSend = 0;
  while (Date.now() < deadline) {
    if (resend && Date.now() >= nextSend) {
      resend();
      nextSend = Date.now() + 200;
    }
    let got = false;
    for (const fd of fds) {
      const n = read(fd, buf);
      if (n === null) continue;
      got = true;
      const m = match(buf.subarray(0, n));
      if (m !== null) return m;
    }
    if (!got) await new Promise((r) => setTimeout(r, 5));
  }
  return null;
}
