/**
 * What the Kata agent needs to configure a pod interface in the guest, in the
 * shapes of the agent protocol's `types` package (`Interface`, `Route`,
 * `ARPNeighbor`, `IPAddress`), with the same field names as the generated
 * TypeScript so that converting is a field-for-field copy (`mtu` becomes a
 * bigint there).
 * @module
 */

/** `types.IPFamily`. */
export const IP_FAMILY = { v4: 0, v6: 1 } as const;
type IpFamily = (typeof IP_FAMILY)[keyof typeof IP_FAMILY];

/** `types.IPAddress`; `mask` is the prefix length as text ("24"), as runtime-rs sends it. */
export interface AgentIPAddress {
  family: IpFamily;
  address: string;
  mask: string;
}

/** `types.Interface`. */
export interface AgentInterface {
  device: string;
  name: string;
  IPAddresses: AgentIPAddress[];
  mtu: number;
  hwAddr: string;
  devicePath: string;
  /** Link type string of the pod link ("veth", "macvlan", ...). */
  type: string;
  /** Interface flags the guest should copy; only IFF_NOARP is passed. */
  rawFlags: number;
}

/** `types.Route`; `dest` is "a.b.c.d/len", "" for a default route. */
export interface AgentRoute {
  dest: string;
  gateway: string;
  device: string;
  source: string;
  scope: number;
  family: IpFamily;
  flags: number;
  mtu: number;
}

/** `types.ARPNeighbor`. */
export interface AgentARPNeighbor {
  toIPAddress: AgentIPAddress;
  device: string;
  lladdr: string;
  state: number;
  flags: number;
}
