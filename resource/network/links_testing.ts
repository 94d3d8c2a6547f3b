/**
 * Scanned-link values for the unit tests of this folder (plain data, no
 * namespace): a CNI-style veth with IPv4, IPv6 and link-local addresses.
 * @module
 */
import type { ScannedLink } from "./scan.ts";

/** A scanned veth `eth0` (index 3) with overrides. */
export function scannedVeth(over: Partial<ScannedLink> = {}): ScannedLink {
  return {
    idx: 0,
    type: "veth",
    busInfo: "",
    link: {
      index: 3,
      name: "eth0",
      flags: 0x1003,
      hwType: 1,
      mac: "f6:02:33:a0:61:df",
      mtu: 1450,
      master: 0,
      parent: 4,
      kind: "veth",
      txQueueLen: 1000,
    },
    addresses: [
      { index: 3, family: 2, prefixLen: 24, scope: 0, address: "10.0.0.2" },
      { index: 3, family: 10, prefixLen: 64, scope: 0, address: "fd00::2" },
      { index: 3, family: 10, prefixLen: 64, scope: 253, address: "fe80::1" },
    ],
    routes: [
      route({ dst: "", dstLen: 0, gateway: "10.0.0.1", scope: 0 }),
      route({ dst: "10.0.0.0", dstLen: 24, prefSource: "10.0.0.2", scope: 253, protocol: 2 }),
      route({ dst: "192.168.7.0", dstLen: 24, gateway: "10.0.0.1", mtu: 1400 }),
      route({ family: 10, dst: "fe80::", dstLen: 64, priority: 256, protocol: 2 }),
      route({ family: 10, dst: "fd00:1::", dstLen: 64, priority: 1024, gateway: "fd00::1" }),
    ],
    neighbours: [
      { family: 2, index: 3, state: 0x80, flags: 0, dst: "10.0.0.9", lladdr: "02:00:00:00:00:09" },
      { family: 2, index: 3, state: 0x02, flags: 0, dst: "10.0.0.1", lladdr: "02:00:00:00:00:01" },
    ],
    ...over,
  };
}

function route(over: Partial<ScannedLink["routes"][0]>): ScannedLink["routes"][0] {
  return {
    family: 2,
    dstLen: 0,
    table: 254,
    protocol: 3,
    scope: 0,
    type: 1,
    flags: 0,
    dst: "",
    gateway: "",
    source: "",
    prefSource: "",
    oif: 3,
    priority: 0,
    mtu: 0,
    ...over,
  };
}
