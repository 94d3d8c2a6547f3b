/**
 * The agent-facing description of one scanned link: the `Interface` to
 * create or update in the guest, its routes and its permanent neighbours.
 * @module
 */
import { IFF, NUD } from "../../ffi/netlink.ts";
import { AF } from "../../ffi/socket.ts";
import type {
  AgentARPNeighbor,
  AgentInterface,
  AgentIPAddress,
  AgentRoute,
} from "./agent_types.ts";
import { IP_FAMILY } from "./agent_types.ts";
import type { ScannedLink } from "./scan.ts";

/** Routes the kernel made itself (for addresses); the guest kernel makes its own. */
const RTPROT_KERNEL = 2;

const family = (af: number) => (af === AF.INET6 ? IP_FAMILY.v6 : IP_FAMILY.v4);

/** The `Interface` for a scanned link; `guestMac` is the MAC the guest NIC gets. */
export function agentInterface(s: ScannedLink, guestMac = s.link.mac): AgentInterface {
  return {
    device: s.link.name,
    name: s.link.name,
    IPAddresses: s.addresses.map((a): AgentIPAddress => ({
      family: family(a.family),
      address: a.address,
      mask: String(a.prefixLen),
    })),
    mtu: s.link.mtu,
    hwAddr: guestMac,
    devicePath: "",
    type: s.type,
    rawFlags: s.link.flags & IFF.NOARP,
  };
}

/**
 * The link's routes as runtime-rs sends them: every route through the link
 * except those the kernel made for its addresses; `source` is the route's
 * source prefix (RTA_SRC), as runtime-rs reads it.
 */
export function agentRoutes(s: ScannedLink): AgentRoute[] {
  return s.routes
    .filter((r) => r.protocol !== RTPROT_KERNEL)
    .map((r) => ({
      dest: r.dst ? `${r.dst}/${r.dstLen}` : "",
      gateway: r.gateway,
      device: s.link.name,
      source: r.source,
      scope: r.scope,
      family: family(r.family),
      flags: r.flags,
      mtu: r.mtu,
    }));
}

/** The link's permanent (statically configured) neighbours. */
export function agentNeighbours(s: ScannedLink): AgentARPNeighbor[] {
  return s.neighbours
    .filter((n) => (n.state & NUD.PERMANENT) !== 0 && n.dst !== "" && n.lladdr !== "")
    .map((n) => ({
      toIPAddress: { family: family(n.family), address: n.dst, mask: "" },
      device: s.link.name,
      lladdr: n.lladdr,
      state: n.state,
      flags: n.flags,
    }));
}
