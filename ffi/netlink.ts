/**
 * rtnetlink over FFI: an AF_NETLINK socket opened inside a target network
 * namespace (so every request acts there), with typed requests for links,
 * addresses, routes, neighbours, macvtaps, ingress qdiscs and redirect
 * filters. Message layouts live in `rtnetlink_msg.ts`; this file only sends
 * and receives. No `ip`/`tc` subprocesses.
 * @module
 */
import { strerror } from "./errno.ts";
import { closeFd } from "./fd.ts";
import { type ErrnoStatus, errnoStatus, FfiError } from "./errors.ts";
import { inNetns } from "./netns.ts";
import {
  AF,
  bindNetlink,
  NETLINK_ROUTE,
  openSocket,
  recvInto,
  sendAll,
  SOCK,
  tuneNetlink,
} from "./socket.ts";
import * as m from "./rtnetlink_msg.ts";

export type {
  AddrMsg,
  FilterMsg,
  LinkChange,
  LinkMsg,
  MacvlanMode,
  NeighMsg,
  QdiscMsg,
  Route4Spec,
  RouteMsg,
} from "./rtnetlink_msg.ts";
export { IFF, NUD, RT } from "./rtnetlink_msg.ts";

/** A request the kernel refused: names the operation, errno's text and the kernel's detail. */
export class NetlinkError extends Error {
  /** The status name the RPC boundary sends, from the errno. */
  get code(): ErrnoStatus {
    return errnoStatus(this.errno);
  }
  constructor(readonly op: string, readonly errno: number, detail?: string) {
    super(`${op}: ${strerror(errno)} (errno ${errno})${detail ? `: ${detail}` : ""}`);
    this.name = "NetlinkError";
  }
}

/** errno values callers test for. */
export const ERRNO = { ENOENT: 2, EBUSY: 16, EEXIST: 17, ENODEV: 19, EINVAL: 22 } as const;

const RECV_BUF = 256 * 1024;

/** Blocks the thread for `ms` (used only for the kernel's short EBUSY windows). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** An open rtnetlink socket bound to one network namespace. Close it exactly once. */
export class RtNetlink {
  #fd: number;
  #seq = Math.floor(Math.random() * 0x7fffffff);
  #buf = new Uint8Array(RECV_BUF);
  readonly netns: string;

  private constructor(fd: number, netns: string) {
    this.#fd = fd;
    this.netns = netns;
  }

  /** Opens a socket in the namespace at `netns` ("" = the current one). */
  static open(netns = ""): RtNetlink {
    const fd = inNetns(netns, () => openSocket(AF.NETLINK, SOCK.RAW, NETLINK_ROUTE));
    try {
      bindNetlink(fd);
      tuneNetlink(fd);
    } catch (e) {
      closeFd(fd);
      throw e;
    }
    return new RtNetlink(fd, netns);
  }

  /** Closes the socket. */
  close(): void {
    if (this.#fd < 0) return;
    closeFd(this.#fd);
    this.#fd = -1;
  }

  #next(): number {
    this.#seq = (this.#seq + 1) & 0x7fffffff;
    return this.#seq;
  }

  #fdOrThrow(): number {
    if (this.#fd < 0) throw new FfiError("FailedPrecondition", "rtnetlink socket is closed");
    return this.#fd;
  }

  /** Sends a request built for a fresh sequence number and waits for its ACK. */
  #ack(op: string, build: (seq: number) => Uint8Array<ArrayBuffer>): void {
    const fd = this.#fdOrThrow();
    const seq = this.#next();
    sendAll(fd, build(seq));
    for (;;) {
      const n = recvInto(fd, this.#buf);
      for (const msg of m.parseMessages(this.#buf.subarray(0, n))) {
        if (msg.seq !== seq || msg.type !== m.NLMSG.ERROR) continue;
        const err = m.parseError(msg);
        if (err.errno !== 0) throw new NetlinkError(op, err.errno, err.message);
        return;
      }
    }
  }

  /** Sends a request and collects reply payloads of type `type` until the end of the reply. */
  #collect(
    op: string,
    type: number,
    build: (seq: number) => Uint8Array<ArrayBuffer>,
  ): Uint8Array[] {
    const fd = this.#fdOrThrow();
    const seq = this.#next();
    sendAll(fd, build(seq));
    const out: Uint8Array[] = [];
    for (;;) {
      const n = recvInto(fd, this.#buf);
      for (const msg of m.parseMessages(this.#buf.subarray(0, n))) {
        if (msg.seq !== seq) continue;
        if (msg.type === m.NLMSG.DONE) return out;
        if (msg.type === m.NLMSG.ERROR) {
          const err = m.parseError(msg);
          if (err.errno !== 0) throw new NetlinkError(op, err.errno, err.message);
          return out;
        }
        // Payloads are views into the shared buffer: copy before the next recv.
        if (msg.type === type) out.push(msg.payload.slice());
        if (!(msg.flags & m.NLM_F.MULTI)) return out;
      }
    }
  }

  /** Every link in the namespace. */
  links(): m.LinkMsg[] {
    return this.#collect("dump links", m.RTM.NEWLINK, m.getLinks).map(m.parseLink);
  }

  /** The link called `name`, or undefined when there is none. */
  linkByName(name: string): m.LinkMsg | undefined {
    try {
      const [p] = this.#collect(
        `get link ${name}`,
        m.RTM.NEWLINK,
        (s) => m.getLinkByName(s, name),
      );
      return p ? m.parseLink(p) : undefined;
    } catch (e) {
      if (e instanceof NetlinkError && (e.errno === ERRNO.ENODEV || e.errno === ERRNO.ENOENT)) {
        return undefined;
      }
      throw e;
    }
  }

  /** The link called `name`; throws naming it when absent. */
  mustLink(name: string): m.LinkMsg {
    const link = this.linkByName(name);
    if (!link) throw new NetlinkError(`get link ${name}`, ERRNO.ENODEV);
    return link;
  }

  /** Every address (IPv4 and IPv6) in the namespace. */
  addresses(): m.AddrMsg[] {
    return this.#collect("dump addresses", m.RTM.NEWADDR, (s) => m.getAddrs(s)).map(m.parseAddr);
  }

  /** Every route of every table in the namespace. */
  routes(): m.RouteMsg[] {
    return this.#collect("dump routes", m.RTM.NEWROUTE, (s) => m.getRoutes(s)).map(m.parseRoute);
  }

  /** Every neighbour entry in the namespace. */
  neighbours(): m.NeighMsg[] {
    return this.#collect("dump neighbours", m.RTM.NEWNEIGH, (s) => m.getNeighbours(s)).map(
      m.parseNeighbour,
    );
  }

  /** Changes link `index` (up/down, MTU, MAC, master, name). */
  setLink(index: number, change: m.LinkChange): void {
    this.#ack(`set link ${index} ${JSON.stringify(change)}`, (s) => m.setLink(s, index, change));
  }

  /** Creates a macvtap called `name` on top of link `parent`; returns the new link. */
  addMacvtap(
    name: string,
    parent: number,
    mode: m.MacvlanMode,
    opts: { mtu?: number; mac?: string; txQueueLen?: number } = {},
  ): m.LinkMsg {
    this.#ack(`add macvtap ${name}`, (s) => m.newMacvtap(s, name, parent, mode, opts));
    return this.mustLink(name);
  }

  /** Deletes link `index`. */
  deleteLink(index: number, what = `link ${index}`): void {
    this.#ack(`delete ${what}`, (s) => m.delLink(s, index));
  }

  /** Adds the IPv4 address `address/prefixLen` to link `index`. */
  addAddress4(index: number, address: string, prefixLen: number): void {
    this.#ack(
      `add address ${address}/${prefixLen} to link ${index}`,
      (s) => m.newAddr4(s, index, address, prefixLen),
    );
  }

  /** Adds (creates) or deletes an IPv4 route. */
  route4(op: "add" | "delete", r: m.Route4Spec): void {
    this.#ack(
      `${op} route ${r.dst}/${r.dstLen} table ${r.table} via link ${r.oif}`,
      (s) => m.route4(s, op, r),
    );
  }

  /** Adds the ingress qdisc to link `index`, retrying the kernel's short EBUSY windows. */
  addIngressQdisc(index: number): void {
    for (let attempt = 1;; attempt++) {
      try {
        this.#ack(`add ingress qdisc on link ${index}`, (s) => m.newIngressQdisc(s, index));
        return;
      } catch (e) {
        if (!(e instanceof NetlinkError) || e.errno !== ERRNO.EBUSY || attempt > 5) throw e;
        sleepSync(10 * attempt);
      }
    }
  }

  /** Removes the ingress qdisc (and with it every ingress filter) from link `index`. */
  deleteIngressQdisc(index: number): void {
    this.#ack(`delete ingress qdisc on link ${index}`, (s) => m.delIngressQdisc(s, index));
  }

  /** Every qdisc in the namespace. */
  qdiscs(): m.QdiscMsg[] {
    return this.#collect("dump qdiscs", m.RTM.NEWQDISC, m.getQdiscs).map(m.parseQdisc);
  }

  /** Redirects every frame entering link `from` out of link `to` (u32 match-all + mirred). */
  addRedirect(from: number, to: number): void {
    this.#ack(
      `add redirect filter from link ${from} to link ${to}`,
      (s) => m.newRedirectFilter(s, from, to),
    );
  }

  /** The filters on link `index`'s ingress. */
  ingressFilters(index: number): m.FilterMsg[] {
    return this.#collect(
      `dump ingress filters of link ${index}`,
      m.RTM.NEWTFILTER,
      (s) => m.getIngressFilters(s, index),
    ).map(m.parseFilter);
  }
}

/** Runs `fn` with an rtnetlink socket in `netns`, closing it on every path. */
export function withRtNetlink<T>(netns: string, fn: (nl: RtNetlink) => T): T {
  const nl = RtNetlink.open(netns);
  try {
    return fn(nl);
  } finally {
    nl.close();
  }
}
