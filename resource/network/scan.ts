/**
 * Link detection: one rtnetlink pass over a network namespace collecting, per
 * candidate link, what endpoint classification and the agent need. Loopback,
 * links without any address, and the taps this resource creates itself are
 * skipped; the rest are numbered 0, 1, ... in link-index order.
 * @module
 */
import { IFF, type LinkMsg, withRtNetlink } from "../../ffi/netlink.ts";
import type { AddrMsg, NeighMsg, RouteMsg } from "../../ffi/netlink.ts";
import { driverInfo } from "../../ffi/ethtool.ts";
import { type LinkType, linkType } from "./link_type.ts";

/** A pod link found in the namespace, with its addresses, routes and neighbours. */
export interface ScannedLink {
  /** Position among the candidate links; names the tap (`tap<idx>_kata`). */
  idx: number;
  link: LinkMsg;
  type: LinkType;
  addresses: AddrMsg[];
  /** Routes (any table) whose output link is this one. */
  routes: RouteMsg[];
  neighbours: NeighMsg[];
  /** ethtool bus info ("" for virtual links). */
  busInfo: string;
}

/** The tap (or macvtap) name the resource uses for the link numbered `idx`. */
export function tapName(idx: number): string {
  return `tap${idx}_kata`;
}

const OWN_TAP = /^tap\d+_kata$/;

/** 127.0.0.0/8 and ::1. */
function isLoopbackAddr(a: AddrMsg): boolean {
  return a.address.startsWith("127.") || a.address === "::1";
}

/** Scans the namespace at `netns` and returns its candidate links in order. */
export function scanNetns(netns: string): ScannedLink[] {
  const found = withRtNetlink(netns, (nl) => ({
    links: nl.links(),
    addresses: nl.addresses(),
    routes: nl.routes(),
    neighbours: nl.neighbours(),
  }));
  const out: ScannedLink[] = [];
  for (const link of [...found.links].sort((a, b) => a.index - b.index)) {
    if (link.flags & IFF.LOOPBACK) continue;
    if (OWN_TAP.test(link.name)) continue;
    // Unconfigured links (tunnel base devices such as sit0, half-set-up links)
    // have no address; loopback addresses do not count.
    const addresses = found.addresses.filter((a) => a.index === link.index && !isLoopbackAddr(a));
    if (addresses.length === 0) continue;
    out.push({
      idx: out.length,
      link,
      type: linkType(link.kind),
      addresses,
      routes: found.routes.filter((r) => r.oif === link.index),
      neighbours: found.neighbours.filter((n) => n.index === link.index),
      busInfo: busInfoOf(netns, link.name),
    });
  }
  return out;
}

/** Bus info of a link; links whose driver has no ethtool support report none. */
function busInfoOf(netns: string, name: string): string {
  try {
    return driverInfo(netns, name).busInfo;
  } catch {
    return "";
  }
}
