/**
 * The endpoint of a physical (PCI) pod link. runtime-rs binds it to vfio-pci
 * and passes it through; VFIO passthrough is not supported yet here, so
 * plumbing fails with a clear error naming the link and its PCI address.
 * @module
 */
import type { NetworkDevice } from "../../hypervisor/device.ts";
import { UnimplementedError } from "../../common/errors.ts";
import type { AgentARPNeighbor, AgentInterface, AgentRoute } from "./agent_types.ts";
import { agentInterface, agentNeighbours, agentRoutes } from "./agent_info.ts";
import type { Endpoint, NetworkDeviceSink } from "./endpoint.ts";
import type { Plumbing } from "./plumbing.ts";
import type { ScannedLink } from "./scan.ts";

/** The refusal of a physical (PCI) link, which would need VFIO passthrough. */
export function physicalLinkUnsupported(name: string, busInfo: string): UnimplementedError {
  return new UnimplementedError(
    `Link "${name}" is a physical PCI device (${busInfo}): VFIO passthrough is not supported yet`,
  );
}

/** See the module documentation. */
export class PhysicalEndpoint implements Endpoint {
  readonly kind = "physical" as const;
  readonly model = "none" as const;
  readonly name: string;
  readonly guestMac: string;

  constructor(readonly scanned: ScannedLink) {
    this.name = scanned.link.name;
    this.guestMac = scanned.link.mac;
  }

  #unsupported(): UnimplementedError {
    return physicalLinkUnsupported(this.name, this.scanned.busInfo);
  }

  plumb(): NetworkDevice {
    throw this.#unsupported();
  }

  unplumb(): void {}

  attach(_sink: NetworkDeviceSink): Promise<NetworkDevice> {
    return Promise.reject(this.#unsupported());
  }

  detach(_sink: NetworkDeviceSink): Promise<void> {
    return Promise.resolve();
  }

  plumbing(): Plumbing | undefined {
    return undefined;
  }

  agentInterface(): AgentInterface {
    return agentInterface(this.scanned);
  }

  routes(): AgentRoute[] {
    return agentRoutes(this.scanned);
  }

  neighbours(): AgentARPNeighbor[] {
    return agentNeighbours(this.scanned);
  }
}
