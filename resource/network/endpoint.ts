/**
 * The `Endpoint` interface (one pod link as the VM sees it) and the small
 * slice of a hypervisor it attaches to ({@link NetworkDeviceSink}: the
 * sandbox hands one backed by its device manager; any `Hypervisor` satisfies
 * it too).
 * @module
 */
import type { NetworkDevice } from "../../hypervisor/device.ts";
import type { Hypervisor, VmState } from "../../hypervisor/hypervisor.ts";
import type { AgentARPNeighbor, AgentInterface, AgentRoute } from "./agent_types.ts";
import type { EndpointKind, ModelName } from "./classify.ts";
import type { Plumbing } from "./plumbing.ts";

/** What an endpoint needs from the VM: hotplug capability, state and NIC add/remove. */
export interface NetworkDeviceSink {
  capabilities(): { netHotplug: boolean };
  state(): VmState;
  addDevice(d: NetworkDevice): Promise<unknown>;
  removeDevice(d: NetworkDevice): Promise<void>;
}

// Compile-time check that every hypervisor driver can be handed to the network resource.
type HypervisorIsSink = Hypervisor extends NetworkDeviceSink ? true : never;
const _hypervisorIsSink: HypervisorIsSink = true;

/** One pod link given to the VM. */
export interface Endpoint {
  /** Name of the pod link. */
  readonly name: string;
  readonly kind: EndpointKind;
  readonly model: ModelName;
  /** MAC of the guest NIC (the pod link's MAC). */
  readonly guestMac: string;
  /** Creates the host-side plumbing; returns the NIC to give the VM. Idempotent. */
  plumb(): NetworkDevice;
  /** Removes exactly what {@link plumb} created (and closes fds it opened). Idempotent. */
  unplumb(): void;
  /** Plumbs (when not yet) and adds the NIC to the VM. */
  attach(sink: NetworkDeviceSink): Promise<NetworkDevice>;
  /** Removes the NIC from the VM (when it was added) and unplumbs. */
  detach(sink: NetworkDeviceSink): Promise<void>;
  /** What was created, for persistence; undefined before plumbing. */
  plumbing(): Plumbing | undefined;
  agentInterface(): AgentInterface;
  routes(): AgentRoute[];
  neighbours(): AgentARPNeighbor[];
}
