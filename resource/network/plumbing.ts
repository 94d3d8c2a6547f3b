/**
 * Host-side plumbing of one endpoint (the tap or macvtap and the model's
 * qdiscs and filters), built step by step with a record of every object made
 * so that removal deletes exactly those, also after a half-finished attach.
 * @module
 */
import { createTap } from "../../ffi/tun.ts";
import { ERRNO, NetlinkError, type RtNetlink } from "../../ffi/netlink.ts";
import { FailedPreconditionError, UnimplementedError } from "../../common/errors.ts";
import type { ModelName } from "./classify.ts";
import type { LinkMsg } from "../../ffi/netlink.ts";

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
}

/** What a model needs to plumb one endpoint. */
export interface PlumbRequest {
  netns: string;
  link: LinkMsg;
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
        throw new UnimplementedError(
          `Internetworking model "l3forwarding" is not supported yet (link "${req.link.name}")`,
        );
    }
    return rec;
  } catch (e) {
    try {
      unplumb(nl, rec);
    } catch (cleanup) {
      throw new AggregateError([e, cleanup], `Plumbing link "${req.link.name}" failed twice`);
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
        nl.deleteLink(tap.index, `${rec.tapKind} ${rec.tap}`);
      } catch (e) {
        errors.push(e);
      }
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) {
    throw new AggregateError(errors, `Removing the plumbing of link "${rec.link}" failed`);
  }
}
