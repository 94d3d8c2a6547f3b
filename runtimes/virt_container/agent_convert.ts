/**
 * Converts the plain agent-facing values of this folder into the generated
 * Kata agent protocol messages (`types.Interface`, `types.Route`,
 * `types.ARPNeighbor`) for UpdateInterface, UpdateRoutes and AddARPNeighbors.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import {
  type ARPNeighbor,
  ARPNeighborSchema,
  type Interface,
  InterfaceSchema,
  type IPAddress,
  IPAddressSchema,
  type Route,
  RouteSchema,
} from "../../agent/gen/types_pb.ts";
import type {
  AgentARPNeighbor,
  AgentInterface,
  AgentIPAddress,
  AgentRoute,
} from "../../resource/network/agent_types.ts";

function ipAddress(a: AgentIPAddress): IPAddress {
  return create(IPAddressSchema, { family: a.family, address: a.address, mask: a.mask });
}

/** `types.Interface` for UpdateInterface. */
export function toProtoInterface(i: AgentInterface): Interface {
  return create(InterfaceSchema, {
    device: i.device,
    name: i.name,
    IPAddresses: i.IPAddresses.map(ipAddress),
    mtu: BigInt(i.mtu),
    hwAddr: i.hwAddr,
    devicePath: i.devicePath,
    type: i.type,
    rawFlags: i.rawFlags,
  });
}

/** `types.Route` for UpdateRoutes. */
export function toProtoRoute(r: AgentRoute): Route {
  return create(RouteSchema, { ...r });
}

/** `types.ARPNeighbor` for AddARPNeighbors. */
export function toProtoNeighbour(n: AgentARPNeighbor): ARPNeighbor {
  return create(ARPNeighborSchema, {
    toIPAddress: ipAddress(n.toIPAddress),
    device: n.device,
    lladdr: n.lladdr,
    state: n.state,
    flags: n.flags,
  });
}
