/**
 * Traffic-control rtnetlink messages as bytes: the ingress qdisc and the u32
 * match-all filter with a mirred egress-redirect action, plus parsers for
 * qdisc and filter dumps. Layouts follow `linux/pkt_sched.h`,
 * `linux/pkt_cls.h` and `linux/tc_act/tc_mirred.h`. Re-exported by
 * `rtnetlink_msg.ts`.
 * @module
 */

import { attr, attrStr, message, nest, NLM_F, parseAttrs, RTM, str } from "./rtnetlink_frame.ts";

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
const ETH_P_ALL = 0x0003;

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
