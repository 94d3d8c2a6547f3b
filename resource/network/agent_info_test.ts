import { assertEquals } from "../../tests/assert.ts";
import { agentInterface, agentNeighbours, agentRoutes } from "./agent_info.ts";
import { scannedVeth } from "./links_testing.ts";

Deno.test("the agent Interface carries addresses with prefix lengths, MTU, MAC, type and NOARP only", () => {
  const s = scannedVeth();
  s.link.flags |= 0x80; // IFF_NOARP
  assertEquals(agentInterface(s), {
    device: "eth0",
    name: "eth0",
    IPAddresses: [
      { family: 0, address: "10.0.0.2", mask: "24" },
      { family: 1, address: "fd00::2", mask: "64" },
      { family: 1, address: "fe80::1", mask: "64" },
    ],
    mtu: 1450,
    hwAddr: "f6:02:33:a0:61:df",
    devicePath: "",
    type: "veth",
    rawFlags: 0x80,
  });
  assertEquals(agentInterface(scannedVeth()).rawFlags, 0);
});

Deno.test("routes keep dest/len, gateway, scope and MTU; kernel-made routes are left out", () => {
  assertEquals(
    agentRoutes(scannedVeth()).map((r) => [r.dest, r.gateway, r.scope, r.family, r.mtu]),
    [
      ["", "10.0.0.1", 0, 0, 0],
      ["192.168.7.0/24", "10.0.0.1", 0, 0, 1400],
      ["fd00:1::/64", "fd00::1", 0, 1, 0],
    ],
  );
});

Deno.test("only permanent neighbours are sent", () => {
  assertEquals(agentNeighbours(scannedVeth()), [{
    toIPAddress: { family: 0, address: "10.0.0.9", mask: "" },
    device: "eth0",
    lladdr: "02:00:00:00:00:09",
    state: 0x80,
    flags: 0,
  }]);
});
