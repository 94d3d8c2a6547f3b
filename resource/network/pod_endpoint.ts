/**
 * The endpoint of a virtual pod link (veth or plain device, macvlan, ipvlan,
 * vlan): a tap or macvtap named `tap<idx>_kata` with the link's MTU, plumbed
 * by the endpoint's model, and a NIC with the link's MAC.
 * @module
 */
import type { NetworkDevice } from "../../hypervisor/device.ts";
import { withRtNetlink } from "../../ffi/netlink.ts";
import { closeTapFds, openMacvtap } from "../../ffi/tun.ts";
import type { AgentARPNeighbor, AgentInterface, AgentRoute } from "./agent_types.ts";
import { agentInterface, agentNeighbours, agentRoutes } from "./agent_info.ts";
import type { EndpointKind, ModelName } from "./classify.ts";
import type { Endpoint, NetworkDeviceSink } from "./endpoint.ts";
import { plumb, type Plumbing, unplumb } from "./plumbing.ts";
import { type ScannedLink, tapName } from "./scan.ts";

/** Virtqueue size runtime-rs gives network devices. */
const QUEUE_SIZE = 256;

/** See the module documentation. */
export class PodEndpoint implements Endpoint {
  readonly name: string;
  readonly guestMac: string;
  #plumbing: Plumbing | undefined;
  #device: NetworkDevice | undefined;
  #added = false;
  #fds: number[] = [];

  constructor(
    readonly netns: string,
    readonly scanned: ScannedLink,
    readonly kind: EndpointKind,
    readonly model: ModelName,
    readonly queues: number,
  ) {
    this.name = scanned.link.name;
    this.guestMac = scanned.link.mac;
  }

  /** Adopts plumbing made earlier (e.g. read back from a record). */
  static restore(
    netns: string,
    scanned: ScannedLink,
    kind: EndpointKind,
    rec: Plumbing,
  ): PodEndpoint {
    const ep = new PodEndpoint(netns, scanned, kind, rec.model, rec.queues);
    ep.#plumbing = rec;
    return ep;
  }

  plumb(): NetworkDevice {
    if (this.#device) return this.#device;
    this.#plumbing ??= withRtNetlink(this.netns, (nl) =>
      plumb(nl, {
        netns: this.netns,
        link: this.scanned.link,
        addresses: this.scanned.addresses,
        tap: tapName(this.scanned.idx),
        queues: this.queues,
        model: this.model,
      }));
    const rec = this.#plumbing;
    if (rec.tapKind === "macvtap" && this.#fds.length === 0) {
      // Drivers that take fds get the macvtap's queues; the endpoint owns them.
      this.#fds = openMacvtap(rec.tapIndex, rec.queues);
    }
    this.#device = {
      kind: "network",
      tapName: rec.tap,
      tapFds: this.#fds.length ? [...this.#fds] : undefined,
      guestMac: this.guestMac,
      queues: rec.queues,
      queueSize: QUEUE_SIZE,
      mtu: this.scanned.link.mtu,
      virtIfaceName: this.name,
    };
    return this.#device;
  }

  unplumb(): void {
    closeTapFds(this.#fds);
    this.#device = undefined;
    const rec = this.#plumbing;
    if (!rec) return;
    withRtNetlink(this.netns, (nl) => unplumb(nl, rec));
    this.#plumbing = undefined;
  }

  async attach(sink: NetworkDeviceSink): Promise<NetworkDevice> {
    const dev = this.plumb();
    if (!this.#added) {
      await sink.addDevice(dev);
      this.#added = true;
    }
    return dev;
  }

  async detach(sink: NetworkDeviceSink): Promise<void> {
    if (this.#added && this.#device) {
      await sink.removeDevice(this.#device);
      this.#added = false;
    }
    this.unplumb();
  }

  plumbing(): Plumbing | undefined {
    return this.#plumbing;
  }

  agentInterface(): AgentInterface {
    return agentInterface(this.scanned, this.guestMac);
  }

  routes(): AgentRoute[] {
    return agentRoutes(this.scanned);
  }

  neighbours(): AgentARPNeighbor[] {
    return agentNeighbours(this.scanned);
  }
}
