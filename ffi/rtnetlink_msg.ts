/**
 * rtnetlink messages as bytes: building requests and parsing replies, with no
 * system calls, so that every layout here is unit-testable. Layouts follow
 * the kernel's uapi headers (`linux/netlink.h`, `linux/rtnetlink.h`,
 * `linux/if_link.h`, `linux/pkt_sched.h`, `linux/pkt_cls.h`,
 * `linux/tc_act/tc_mirred.h`); all integers are host (little-endian) order
 * unless a field says otherwise.
 * @module
 */

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
const TCA = { KIND: 1, OPTIONS: 2 };
const TCA_U32 = { SEL: 5, ACT: 7 };
const TCA_ACT = { KIND: 1, OPTIONS: 2 };
const TCA_MIRRED_PARMS = 2;
const TC_U32_TERMINAL = 1;
const TC_ACT_STOLEN = 4;
const TCA_EGRESS_REDIR = 1;
/** tc handles: the ingress qdisc lives at `ffff:` under the ingress parent. */
export const TC_H = { INGRESS: 0xfffffff1, INGRESS_HANDLE: 0xffff0000 } as const;
/** EtherType "all protocols" (`ETH_P_ALL`). */
export const ETH_P_ALL = 0x0003;
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
      throw new Error(`Malformed netlink message: length ${len} at offset ${off}`);
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

const u32 = (b: Uint8Array | undefined): number | undefined =>
  b && b.length >= 4 ? new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true) : undefined;
const str = (b: Uint8Array | undefined): string | undefined => {
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

// ---- traffic control -------------------------------------------------------

function tcmsg(index: number, handle: number, parent: number, info = 0): Uint8Array {
  const b = new Uint8Array(20);
  const v = new DataView(b.buffer);
  v.setInt32(4, index, true);
  v.setUint32(8, handle >>> 0, true);
  v.setUint32(12, parent >>> 0, true);
  v.setUint32(16, info >>> 0, true);
  return b;
}

/** RTM_NEWQDISC adding the ingress qdisc (`ffff:`) to link `index`. */
export function newIngressQdisc(seq: number, index: number): Uint8Array<ArrayBuffer> {
  return message(
    RTM.NEWQDISC,
    NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL,
    seq,
    tcmsg(index, TC_H.INGRESS_HANDLE, TC_H.INGRESS),
    [attrStr(TCA.KIND, "ingress"), nest(TCA.OPTIONS, [])],
  );
}

/** RTM_DELQDISC removing the ingress qdisc (and its filters) from link `index`. */
export function delIngressQdisc(seq: number, index: number): Uint8Array<ArrayBuffer> {
  return message(
    RTM.DELQDISC,
    NLM_F.REQUEST | NLM_F.ACK,
    seq,
    tcmsg(index, TC_H.INGRESS_HANDLE, TC_H.INGRESS),
  );
}

/** RTM_GETQDISC dump request. */
export function getQdiscs(seq: number): Uint8Array<ArrayBuffer> {
  return message(RTM.GETQDISC, NLM_F.REQUEST | NLM_F.DUMP, seq, tcmsg(0, 0, 0));
}

/** A qdisc as rtnetlink reports it. */
export interface QdiscMsg {
  index: number;
  handle: number;
  parent: number;
  kind: string;
}

/** Parses an RTM_NEWQDISC payload. */
export function parseQdisc(payload: Uint8Array): QdiscMsg {
  const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return {
    index: v.getInt32(4, true),
    handle: v.getUint32(8, true),
    parent: v.getUint32(12, true),
    kind: str(parseAttrs(payload, 20).get(TCA.KIND)) ?? "",
  };
}

/**
 * RTM_NEWTFILTER: on link `index`'s ingress, a u32 filter matching every
 * frame (one key with mask 0) whose action is mirred egress-redirect to link
 * `target` (`tc filter add dev X parent ffff: protocol all u32 match u8 0 0
 * action mirred egress redirect dev Y`).
 */
export function newRedirectFilter(
  seq: number,
  index: number,
  target: number,
  priority = 49152,
): Uint8Array<ArrayBuffer> {
  // The protocol sits in the low 16 bits of tcm_info in network byte order.
  const info = ((priority & 0xffff) << 16) | (((ETH_P_ALL & 0xff) << 8) | (ETH_P_ALL >> 8));
  // struct tc_u32_sel (16 bytes) + one struct tc_u32_key (16 bytes), all zero but the counts.
  const sel = new Uint8Array(32);
  sel[0] = TC_U32_TERMINAL;
  sel[2] = 1; // nkeys
  // struct tc_mirred: index, capab, action, refcnt, bindcnt, eaction, ifindex.
  const parms = new Uint8Array(28);
  const pv = new DataView(parms.buffer);
  pv.setInt32(8, TC_ACT_STOLEN, true);
  pv.setInt32(20, TCA_EGRESS_REDIR, true);
  pv.setUint32(24, target, true);
  const action = nest(1, [
    attrStr(TCA_ACT.KIND, "mirred"),
    nest(TCA_ACT.OPTIONS, [attr(TCA_MIRRED_PARMS, parms)]),
  ]);
  return message(
    RTM.NEWTFILTER,
    NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL,
    seq,
    tcmsg(index, 0, TC_H.INGRESS_HANDLE, info),
    [
      attrStr(TCA.KIND, "u32"),
      nest(TCA.OPTIONS, [attr(TCA_U32.SEL, sel), nest(TCA_U32.ACT, [action])]),
    ],
  );
}

/** RTM_GETTFILTER dump of the filters on link `index`'s ingress. */
export function getIngressFilters(seq: number, index: number): Uint8Array<ArrayBuffer> {
  return message(
    RTM.GETTFILTER,
    NLM_F.REQUEST | NLM_F.DUMP,
    seq,
    tcmsg(index, 0, TC_H.INGRESS_HANDLE),
  );
}

/** A filter as rtnetlink reports it: its kind and, for mirred redirects, the target. */
export interface FilterMsg {
  index: number;
  kind: string;
  /** ifindex a mirred action redirects to, 0 when none was found. */
  redirectTo: number;
}

/** Parses an RTM_NEWTFILTER payload. */
export function parseFilter(payload: Uint8Array): FilterMsg {
  const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const a = parseAttrs(payload, 20);
  let redirectTo = 0;
  const opts = a.get(TCA.OPTIONS);
  const acts = opts && parseAttrs(opts).get(TCA_U32.ACT);
  for (const act of acts ? parseAttrs(acts).values() : []) {
    const aa = parseAttrs(act);
    if (str(aa.get(TCA_ACT.KIND)) !== "mirred") continue;
    const p = aa.get(TCA_ACT.OPTIONS) && parseAttrs(aa.get(TCA_ACT.OPTIONS)!).get(TCA_MIRRED_PARMS);
    if (p && p.length >= 28) {
      redirectTo = new DataView(p.buffer, p.byteOffset, 28).getUint32(24, true);
    }
  }
  return { index: v.getInt32(4, true), kind: str(a.get(TCA.KIND)) ?? "", redirectTo };
}

// ---- address formats -------------------------------------------------------

/** "aa:bb:cc:dd:ee:ff" from raw bytes. */
export function formatMac(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/** Raw bytes from "aa:bb:cc:dd:ee:ff"; throws on anything else. */
export function parseMac(s: string): Uint8Array {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(s)) {
    throw new RangeError(`Invalid MAC address ${JSON.stringify(s)}: expected six hex bytes`);
  }
  return new Uint8Array(s.split(":").map((x) => parseInt(x, 16)));
}

/** Raw bytes of a dotted IPv4 address; throws on anything else. */
export function parseIp4(s: string): Uint8Array {
  const parts = s.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) < 256)) {
    throw new RangeError(`Invalid IPv4 address ${JSON.stringify(s)}`);
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
