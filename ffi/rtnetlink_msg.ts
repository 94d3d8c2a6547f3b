/**
 * rtnetlink messages as bytes: building requests and parsing replies, with no
 * system calls, so that every layout here is unit-testable. Layouts follow
 * the kernel's uapi headers (`linux/netlink.h`, `linux/rtnetlink.h`,
 * `linux/if_link.h`, `linux/pkt_sched.h`, `linux/pkt_cls.h`,
 * `linux/tc_act/tc_mirred.h`); all integers are host (little-endian) order
 * unless a field says otherwise.
 *
 * This file holds link, address, route and neighbour messages. Netlink
 * framing, attributes and address formats live in `rtnetlink_frame.ts`,
 * traffic control in `rtnetlink_tc.ts`; both are re-exported here, so
 * importers need only this module.
 * @module
 */

import {
  attr,
  attrStr,
  attrU32,
  formatIp,
  formatMac,
  message,
  nest,
  NLM_F,
  parseAttrs,
  parseIp4,
  parseMac,
  RTM,
  str,
  u32,
} from "./rtnetlink_frame.ts";

export {
  attr,
  attrStr,
  attrU32,
  formatIp,
  formatMac,
  message,
  nest,
  NLM_F,
  NLMSG,
  parseAttrs,
  parseError,
  parseIp4,
  parseMac,
  parseMessages,
  RTM,
} from "./rtnetlink_frame.ts";
export type { NlError, NlMessage } from "./rtnetlink_frame.ts";
export * from "./rtnetlink_tc.ts";

/** Interface flags (`net/if.h`). */
export const IFF = {
  UP: 0x1,
  BROADCAST: 0x2,
  LOOPBACK: 0x8,
  NOARP: 0x80,
  LOWER_UP: 0x10000,
} as const;
const IFLA = { ADDRESS: 1, IFNAME: 3, MTU: 4, LINK: 5, MASTER: 10, TXQLEN: 13, LINKINFO: 18 };
const IFLA_INFO = { KIND: 1, DATA: 2 };
const IFLA_MACVLAN_MODE = 1;
/** macvlan/macvtap modes (`IFLA_MACVLAN_MODE`). */
export const MACVLAN_MODE = { private: 1, vepa: 2, bridge: 4, passthru: 8, source: 16 } as const;
export type MacvlanMode = keyof typeof MACVLAN_MODE;
const IFA = { ADDRESS: 1, LOCAL: 2 };
const RTA = { DST: 1, SRC: 2, OIF: 4, GATEWAY: 5, PRIORITY: 6, PREFSRC: 7, METRICS: 8, TABLE: 15 };
const RTAX_MTU = 2;
const NDA = { DST: 1, LLADDR: 2 };
/** Neighbour states (`NUD_*`). */
export const NUD = { PERMANENT: 0x80, NOARP: 0x40, REACHABLE: 0x02 } as const;

// ---- links -----------------------------------------------------------------

/** A network link as rtnetlink reports it. */
export interface LinkMsg {
  index: number;
  name: string;
  /** Interface flags (IFF_*). */
  flags: number;
  /** ARPHRD_* hardware type. */
  hwType: number;
  mac: string;
  mtu: number;
  /** Index of the master (bridge/bond) link, 0 when none. */
  master: number;
  /** Index of the lower link (IFLA_LINK), 0 when none. */
  parent: number;
  /** IFLA_INFO_KIND ("veth", "macvlan", "tun", ...), "" when the link has no kind. */
  kind: string;
  txQueueLen: number;
}

function ifinfomsg(index: number, flags = 0, change = 0, family = 0): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint8(0, family);
  v.setInt32(4, index, true);
  v.setUint32(8, flags, true);
  v.setUint32(12, change, true);
  return b;
}

/** Parses an RTM_NEWLINK payload. */
export function parseLink(payload: Uint8Array): LinkMsg {
  const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const a = parseAttrs(payload, 16);
  const info = a.get(IFLA.LINKINFO);
  const mac = a.get(IFLA.ADDRESS);
  return {
    index: v.getInt32(4, true),
    hwType: v.getUint16(2, true),
    flags: v.getUint32(8, true),
    name: str(a.get(IFLA.IFNAME)) ?? "",
    mac: mac ? formatMac(mac) : "",
    mtu: u32(a.get(IFLA.MTU)) ?? 0,
    master: u32(a.get(IFLA.MASTER)) ?? 0,
    parent: u32(a.get(IFLA.LINK)) ?? 0,
    kind: (info && str(parseAttrs(info).get(IFLA_INFO.KIND))) ?? "",
    txQueueLen: u32(a.get(IFLA.TXQLEN)) ?? 0,
  };
}

/** RTM_GETLINK dump request. */
export function getLinks(seq: number): Uint8Array<ArrayBuffer> {
  return message(RTM.GETLINK, NLM_F.REQUEST | NLM_F.DUMP, seq, ifinfomsg(0));
}

/** RTM_GETLINK for one link by name. */
export function getLinkByName(seq: number, name: string): Uint8Array<ArrayBuffer> {
  return message(RTM.GETLINK, NLM_F.REQUEST, seq, ifinfomsg(0), [attrStr(IFLA.IFNAME, name)]);
}

/** What {@link setLink} may change; absent fields stay as they are. */
export interface LinkChange {
  up?: boolean;
  mtu?: number;
  mac?: string;
  /** Master link index; 0 releases the link from its master. */
  master?: number;
  name?: string;
}

/** RTM_NEWLINK (modify) request for link `index`, acknowledged. */
export function setLink(seq: number, index: number, change: LinkChange): Uint8Array<ArrayBuffer> {
  const attrs: Uint8Array[] = [];
  if (change.mtu !== undefined) attrs.push(attrU32(IFLA.MTU, change.mtu));
  if (change.mac !== undefined) attrs.push(attr(IFLA.ADDRESS, parseMac(change.mac)));
  if (change.master !== undefined) attrs.push(attrU32(IFLA.MASTER, change.master));
  if (change.name !== undefined) attrs.push(attrStr(IFLA.IFNAME, change.name));
  const flags = change.up === undefined ? 0 : change.up ? IFF.UP : 0;
  const mask = change.up === undefined ? 0 : IFF.UP;
  return message(
    RTM.NEWLINK,
    NLM_F.REQUEST | NLM_F.ACK,
    seq,
    ifinfomsg(index, flags, mask),
    attrs,
  );
}

/** RTM_NEWLINK request creating a macvtap on top of link `parent`. */
export function newMacvtap(
  seq: number,
  name: string,
  parent: number,
  mode: MacvlanMode,
  opts: { mtu?: number; mac?: string; txQueueLen?: number } = {},
): Uint8Array<ArrayBuffer> {
  const attrs: Uint8Array[] = [attrStr(IFLA.IFNAME, name), attrU32(IFLA.LINK, parent)];
  if (opts.mtu) attrs.push(attrU32(IFLA.MTU, opts.mtu));
  if (opts.mac) attrs.push(attr(IFLA.ADDRESS, parseMac(opts.mac)));
  if (opts.txQueueLen) attrs.push(attrU32(IFLA.TXQLEN, opts.txQueueLen));
  attrs.push(
    nest(IFLA.LINKINFO, [
      attrStr(IFLA_INFO.KIND, "macvtap"),
      nest(IFLA_INFO.DATA, [attrU32(IFLA_MACVLAN_MODE, MACVLAN_MODE[mode])]),
    ]),
  );
  return message(
    RTM.NEWLINK,
    NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL,
    seq,
    ifinfomsg(0),
    attrs,
  );
}

/** RTM_DELLINK request for link `index`. */
export function delLink(seq: number, index: number): Uint8Array<ArrayBuffer> {
  return message(RTM.DELLINK, NLM_F.REQUEST | NLM_F.ACK, seq, ifinfomsg(index));
}

// ---- addresses -------------------------------------------------------------

/** An interface address as rtnetlink reports it. */
export interface AddrMsg {
  index: number;
  family: number;
  prefixLen: number;
  scope: number;
  address: string;
}

/** RTM_GETADDR dump request for `family` (0 = all). */
export function getAddrs(seq: number, family = 0): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(8);
  b[0] = family;
  return message(RTM.GETADDR, NLM_F.REQUEST | NLM_F.DUMP, seq, b);
}

/** Parses an RTM_NEWADDR payload (IPv4: the local address, not the peer). */
export function parseAddr(payload: Uint8Array): AddrMsg {
  const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const a = parseAttrs(payload, 8);
  const raw = a.get(IFA.LOCAL) ?? a.get(IFA.ADDRESS);
  return {
    family: payload[0],
    prefixLen: payload[1],
    scope: payload[3],
    index: v.getUint32(4, true),
    address: raw ? formatIp(raw) : "",
  };
}

/** RTM_NEWADDR adding the IPv4 address `address/prefixLen` to link `index`. */
export function newAddr4(
  seq: number,
  index: number,
  address: string,
  prefixLen: number,
): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(8);
  b[0] = 2; // AF_INET
  b[1] = prefixLen;
  new DataView(b.buffer).setUint32(4, index, true);
  const ip = parseIp4(address);
  return message(
    RTM.NEWADDR,
    NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL,
    seq,
    b,
    [attr(IFA.LOCAL, ip), attr(IFA.ADDRESS, ip)],
  );
}

// ---- routes ----------------------------------------------------------------

/** A route as rtnetlink reports it. */
export interface RouteMsg {
  family: number;
  dstLen: number;
  table: number;
  protocol: number;
  scope: number;
  type: number;
  flags: number;
  /** Destination prefix without length ("" = default route). */
  dst: string;
  gateway: string;
  /** Source prefix (RTA_SRC) without length, "" when none. */
  source: string;
  /** Preferred source address (RTA_PREFSRC), "" when none. */
  prefSource: string;
  oif: number;
  priority: number;
  /** Path MTU metric (RTAX_MTU), 0 when none. */
  mtu: number;
}

/** RTM_GETROUTE dump request for `family` (0 = all). */
export function getRoutes(seq: number, family = 0): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(12);
  b[0] = family;
  return message(RTM.GETROUTE, NLM_F.REQUEST | NLM_F.DUMP, seq, b);
}

/** An IPv4 route to add or delete. */
export interface Route4Spec {
  table: number;
  protocol: number;
  scope: number;
  type: number;
  dst: string;
  dstLen: number;
  oif: number;
  prefSource?: string;
}

/** Route scopes and types used by the project (`RT_SCOPE_*`, `RTN_*`, `RTPROT_*`). */
export const RT = {
  SCOPE_UNIVERSE: 0,
  SCOPE_LINK: 253,
  SCOPE_HOST: 254,
  UNICAST: 1,
  LOCAL: 2,
  PROT_KERNEL: 2,
  PROT_BOOT: 3,
  TABLE_MAIN: 254,
  TABLE_LOCAL: 255,
} as const;

/** RTM_NEWROUTE (create) or RTM_DELROUTE for an IPv4 route. */
export function route4(
  seq: number,
  op: "add" | "delete",
  r: Route4Spec,
): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(12);
  b.set([2, r.dstLen, 0, 0, r.table < 256 ? r.table : 0, r.protocol, r.scope, r.type]);
  const attrs: Uint8Array[] = [attr(RTA.DST, parseIp4(r.dst)), attrU32(RTA.OIF, r.oif)];
  if (r.table >= 256) attrs.push(attrU32(RTA.TABLE, r.table));
  if (r.prefSource) attrs.push(attr(RTA.PREFSRC, parseIp4(r.prefSource)));
  return op === "add"
    ? message(
      RTM.NEWROUTE,
      NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL,
      seq,
      b,
      attrs,
    )
    : message(RTM.DELROUTE, NLM_F.REQUEST | NLM_F.ACK, seq, b, attrs);
}

/** Parses an RTM_NEWROUTE payload. */
export function parseRoute(payload: Uint8Array): RouteMsg {
  const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const a = parseAttrs(payload, 12);
  const metrics = a.get(RTA.METRICS);
  const ip = (t: number) => {
    const b = a.get(t);
    return b ? formatIp(b) : "";
  };
  return {
    family: payload[0],
    dstLen: payload[1],
    table: u32(a.get(RTA.TABLE)) ?? payload[4],
    protocol: payload[5],
    scope: payload[6],
    type: payload[7],
    flags: v.getUint32(8, true),
    dst: ip(RTA.DST),
    gateway: ip(RTA.GATEWAY),
    source: ip(RTA.SRC),
    prefSource: ip(RTA.PREFSRC),
    oif: u32(a.get(RTA.OIF)) ?? 0,
    priority: u32(a.get(RTA.PRIORITY)) ?? 0,
    mtu: u32(metrics && parseAttrs(metrics).get(RTAX_MTU)) ?? 0,
  };
}

// ---- neighbours ------------------------------------------------------------

/** A neighbour (ARP/NDP) entry as rtnetlink reports it. */
export interface NeighMsg {
  family: number;
  index: number;
  state: number;
  flags: number;
  dst: string;
  lladdr: string;
}

/** RTM_GETNEIGH dump request for `family` (0 = all). */
export function getNeighbours(seq: number, family = 0): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(12);
  b[0] = family;
  return message(RTM.GETNEIGH, NLM_F.REQUEST | NLM_F.DUMP, seq, b);
}

/** Parses an RTM_NEWNEIGH payload. */
export function parseNeighbour(payload: Uint8Array): NeighMsg {
  const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const a = parseAttrs(payload, 12);
  const dst = a.get(NDA.DST);
  const ll = a.get(NDA.LLADDR);
  return {
    family: payload[0],
    index: v.getInt32(4, true),
    state: v.getUint16(8, true),
    flags: payload[10],
    dst: dst ? formatIp(dst) : "",
    lladdr: ll ? formatMac(ll) : "",
  };
}
