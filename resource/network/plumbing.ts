/**
 * Host-side plumbing of one endpoint (the tap or macvtap and the model's
 * qdiscs and filters), built step by step with a record of every object made
 * so that removal deletes exactly those, also after a half-finished attach.
 * @module
 */
import { createTap } from "../../ffi/tun.ts";
import { ERRNO, NetlinkError, type RtNetlink } from "../../ffi/netlink.ts";
import {
  FailedPreconditionError,
  MultipleErrors,
  UnimplementedError,
} from "../../common/errors.ts";
import type { ModelName } from "./classify.ts";
import type { AddrMsg, LinkMsg } from "../../ffi/netlink.ts";
import { RT } from "../../ffi/netlink.ts";
import { AF } from "../../ffi/socket.ts";
import { readNetSysctl, writeNetSysctl } from "./sysctl.ts";

/** What attach created for one endpoint (persisted so detach can undo it). */
export interface Plumbing {
  model: ModelName;
  /** The pod link this plumbing serves. */
  link: string;
  /** The tap (or macvtap) created for the VMM; "" until created. */
  tap: string;
  tapKind: "tap" | "macvtap";
  tapIndex: number;
  queues: number;
  /** Character device of a macvtap (`/dev/tap<ifindex>`). */
  devicePath?: string;
  /** Links that got an ingress qdisc from us (its filters go with it). */
  ingress: string[];
  /** l3forwarding: sysctls changed (key under /proc/sys/net) and their earlier values. */
  sysctls?: { key: string; old: string }[];
  /** l3forwarding: local-table routes of the pod addresses removed from the pod link. */
  localRoutes?: string[];
}

/** What a model needs to plumb one endpoint. */
interface PlumbRequest {
  netns: string;
  link: LinkMsg;
  /** The pod link's addresses (l3forwarding routes them to the tap). */
  addresses: AddrMsg[];
  tap: string;
  queues: number;
  model: ModelName;
}

/** Builds the plumbing of `req.model`; on failure removes what was made and rethrows. */
export function plumb(nl: RtNetlink, req: PlumbRequest): Plumbing {
  const rec: Plumbing = {
    model: req.model,
    link: req.link.name,
    tap: "",
    tapKind: req.model === "macvtap" ? "macvtap" : "tap",
    tapIndex: 0,
    queues: req.queues,
    ingress: [],
  };
  try {
    switch (req.model) {
      case "none":
        makeTap(nl, req, rec);
        break;
      case "tcfilter":
        makeTap(nl, req, rec);
        addIngress(nl, req.tap, rec.tapIndex, rec);
        addIngress(nl, req.link.name, req.link.index, rec);
        nl.addRedirect(rec.tapIndex, req.link.index);
        nl.addRedirect(req.link.index, rec.tapIndex);
        break;
      case "macvtap":
        makeMacvtap(nl, req, rec);
        break;
      case "l3forwarding":
        makeTap(nl, req, rec);
        makeL3Forwarding(nl, req, rec);
        break;
    }
    return rec;
  } catch (e) {
    try {
      unplumb(nl, rec);
    } catch (cleanup) {
      throw new MultipleErrors([e, cleanup], `Plumbing link "${req.link.name}" failed twice`);
    }
    throw e;
  }
}

function makeTap(nl: RtNetlink, req: PlumbRequest, rec: Plumbing): void {
  if (nl.linkByName(req.tap)) {
    throw new FailedPreconditionError(
      `Cannot create tap "${req.tap}" for link "${req.link.name}": a link of that name exists`,
    );
  }
  createTap(req.netns, req.tap, req.queues);
  rec.tap = req.tap;
  rec.tapIndex = nl.mustLink(req.tap).index;
  nl.setLink(rec.tapIndex, { mtu: req.link.mtu, up: true });
}

/**
 * A macvtap in passthru mode on the pod link: it takes the link's MAC (the
 * guest MAC) and every frame the link receives, and the VMM reads and writes
 * it through `/dev/tap<ifindex>`.
 */
function makeMacvtap(nl: RtNetlink, req: PlumbRequest, rec: Plumbing): void {
  if (nl.linkByName(req.tap)) {
    throw new FailedPreconditionError(
      `Cannot create macvtap "${req.tap}" for link "${req.link.name}": a link of that name exists`,
    );
  }
  const mv = nl.addMacvtap(req.tap, req.link.index, "passthru", { mtu: req.link.mtu });
  rec.tap = req.tap;
  rec.tapIndex = mv.index;
  rec.devicePath = `/dev/tap${mv.index}`;
  nl.setLink(mv.index, { up: true });
}

/** Link-local address the tap gets so that proxy ARP has a source distinct from the pod IP. */
const TAP_IPV4_ADDR = "169.254.0.1";

/**
 * The l3forwarding model (IPv4 only): the pod addresses stop being local to
 * the pod link and are routed to the tap instead; proxy ARP on both links and
 * forwarding carry traffic between them. Port forwarding (iptables NAT in
 * runtime-rs, best effort there) is not supported.
 */
function makeL3Forwarding(nl: RtNetlink, req: PlumbRequest, rec: Plumbing): void {
  const v6 = req.addresses.find((a) => a.family === AF.INET6 && !a.address.startsWith("fe80:"));
  if (v6) {
    throw new UnimplementedError(
      `Internetworking model "l3forwarding" does not support IPv6 yet, but link "${req.link.name}" has ${v6.address}`,
    );
  }
  const pod = req.addresses.filter((a) => a.family === AF.INET).map((a) => a.address);
  if (pod.length === 0) {
    throw new FailedPreconditionError(
      `Internetworking model "l3forwarding" needs an IPv4 address on link "${req.link.name}"`,
    );
  }
  rec.sysctls = [];
  rec.localRoutes = [];
  // accept_local on the tap: the guest's packets carry the pod IP, which stays
  // configured on the pod link, and newer kernels drop such a source as martian
  // unless the receiving link accepts local sources.
  const keys = [
    `ipv4/conf/${req.tap}/proxy_arp`,
    `ipv4/conf/${req.tap}/accept_local`,
    `ipv4/conf/${req.link.name}/proxy_arp`,
    "ipv4/ip_forward",
  ];
  for (const key of keys) {
    const old = readNetSysctl(req.netns, key);
    writeNetSysctl(req.netns, key, "1");
    rec.sysctls.push({ key, old });
  }
  nl.addAddress4(rec.tapIndex, TAP_IPV4_ADDR, 32);
  for (const r of nl.routes()) {
    if (
      r.family === AF.INET && r.table === RT.TABLE_LOCAL && r.dstLen === 32 &&
      r.oif === req.link.index && pod.includes(r.dst)
    ) {
      nl.route4("delete", localRoute(r.dst, req.link.index));
      rec.localRoutes.push(r.dst);
    }
  }
  for (const ip of pod) {
    nl.route4("add", {
      table: RT.TABLE_MAIN,
      protocol: RT.PROT_BOOT,
      scope: RT.SCOPE_LINK,
      type: RT.UNICAST,
      dst: ip,
      dstLen: 32,
      oif: rec.tapIndex,
    });
  }
}

/** The local-table route the kernel keeps for an address of a link. */
function localRoute(ip: string, oif: number) {
  return {
    table: RT.TABLE_LOCAL,
    protocol: RT.PROT_KERNEL,
    scope: RT.SCOPE_HOST,
    type: RT.LOCAL,
    dst: ip,
    dstLen: 32,
    oif,
    prefSource: ip,
  };
}

function addIngress(nl: RtNetlink, name: string, index: number, rec: Plumbing): void {
  try {
    nl.addIngressQdisc(index);
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === ERRNO.EEXIST) {
      throw new FailedPreconditionError(
        `Link "${name}" already has an ingress qdisc; the tcfilter model needs its own`,
      );
    }
    throw e;
  }
  rec.ingress.push(name);
}

/**
 * Removes what `rec` says was created: ingress qdiscs (with their filters)
 * on links other than the tap, then the tap or macvtap. Objects already gone
 * are fine; anything else that fails is reported after trying the rest.
 */
export function unplumb(nl: RtNetlink, rec: Plumbing): void {
  const netns = nl.netns;
  const errors: unknown[] = [];
  for (const name of rec.ingress) {
    if (name === rec.tap) continue; // goes away with the tap
    const link = nl.linkByName(name);
    if (!link) continue;
    try {
      nl.deleteIngressQdisc(link.index);
    } catch (e) {
      if (!(e instanceof NetlinkError && (e.errno === ERRNO.ENOENT || e.errno === ERRNO.EINVAL))) {
        errors.push(e);
      }
    }
  }
  if (rec.tap) {
    const tap = nl.linkByName(rec.tap);
    if (tap) {
      try {
        // Its addresses, routes, qdiscs and sysctls go with it.
        nl.deleteLink(tap.index, `${rec.tapKind} ${rec.tap}`);
      } catch (e) {
        errors.push(e);
      }
    }
  }
  const link = rec.localRoutes?.length ? nl.linkByName(rec.link) : undefined;
  for (const ip of link ? rec.localRoutes ?? [] : []) {
    try {
      nl.route4("add", localRoute(ip, link!.index));
    } catch (e) {
      if (!(e instanceof NetlinkError && e.errno === ERRNO.EEXIST)) errors.push(e);
    }
  }
  for (const { key, old } of [...(rec.sysctls ?? [])].reverse()) {
    if (rec.tap && key.includes(`/${rec.tap}/`)) continue;
    try {
      writeNetSysctl(netns, key, old);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) errors.push(e);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) {
    throw new MultipleErrors(errors, `Removing the plumbing of link "${rec.link}" failed`);
  }
}
