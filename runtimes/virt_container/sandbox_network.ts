/**
 * The pod network as the sandbox sees it: the {@link SandboxNetwork} it needs
 * of `resource/network`, the NIC sink it hands the network (the sandbox's
 * device manager, like every other device; removals skipped once the VM is
 * down), and the `setup_network` start step that configures
 * the guest through the agent (UpdateInterface, AddARPNeighbors, UpdateRoutes).
 * @module
 */
import type { Hypervisor } from "../../hypervisor/hypervisor.ts";
import { implicitDeviceId, type NetworkDevice } from "../../hypervisor/device.ts";
import type { DeviceManager } from "../../hypervisor/device_manager.ts";
import type {
  AgentARPNeighbor,
  AgentInterface,
  AgentRoute,
} from "../../resource/network/agent_types.ts";
import type { NetworkDeviceSink } from "../../resource/network/endpoint.ts";
import { updateInterfaceWithRetry } from "../../resource/network/update_interface.ts";
import { toProtoInterface, toProtoNeighbour, toProtoRoute } from "./agent_convert.ts";
import type { AgentApi } from "./agent_api.ts";
import { templateNicPath } from "./clone_identity.ts";

/** What the sandbox needs of the pod network (`resource/network`'s NetworkResource). */
export interface SandboxNetwork {
  attach(sink: NetworkDeviceSink): Promise<NetworkDevice[]>;
  flushQueued(sink: NetworkDeviceSink): Promise<NetworkDevice[]>;
  detach(sink: NetworkDeviceSink): Promise<void>;
  interfaces(): AgentInterface[];
  routes(): AgentRoute[];
  neighbours(): AgentARPNeighbor[];
}

/**
 * NIC sink over the device manager (NICs are filed under their tap name);
 * removals are skipped once the VM is down (the VM took its NICs along).
 */
export function networkSink(hv: Hypervisor, devices: DeviceManager): NetworkDeviceSink {
  return {
    capabilities: () => hv.capabilities(),
    state: () => hv.state(),
    addDevice: async (d) => (await devices.attach(d)).device,
    removeDevice: async (d) => {
      if (hv.state() === "stopped" || hv.state() === "not_ready") return;
      await devices.detach(implicitDeviceId(d)!);
    },
  };
}

/** The `setup_network` step: the guest's interfaces, ARP neighbours and routes through the agent. */
export async function setupGuestNetwork(
  agent: AgentApi,
  net: SandboxNetwork,
  sleep: ((ms: number) => Promise<void>) | undefined,
  templateNicMac?: string,
): Promise<void> {
  for (const [n, i] of net.interfaces().entries()) {
    // A template clone's one NIC still has the template's MAC: the agent finds it by that.
    const iface = templateNicMac && n === 0
      ? { ...i, devicePath: templateNicPath(templateNicMac) }
      : i;
    await updateInterfaceWithRetry(
      (iface) => agent.updateInterface({ interface: toProtoInterface(iface) }),
      iface,
      { sleep },
    );
  }
  const neighbours = net.neighbours();
  if (neighbours.length > 0) {
    await agent.addARPNeighbors({
      neighbors: { ARPNeighbors: neighbours.map(toProtoNeighbour) },
    });
  }
  const routes = net.routes();
  if (routes.length > 0) {
    await agent.updateRoutes({ routes: { Routes: routes.map(toProtoRoute) } });
  }
}
