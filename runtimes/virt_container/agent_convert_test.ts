import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { assertEquals } from "../../tests/assert.ts";
import { ARPNeighborSchema, InterfaceSchema, RouteSchema } from "../../agent/gen/types_pb.ts";
import { agentInterface, agentNeighbours, agentRoutes } from "../../resource/network/agent_info.ts";
import { toProtoInterface, toProtoNeighbour, toProtoRoute } from "./agent_convert.ts";
import { scannedVeth } from "../../resource/network/links_testing.ts";

Deno.test("Interface, Route and ARPNeighbor survive the agent protocol's wire format", () => {
  const s = scannedVeth();
  const iface = fromBinary(
    InterfaceSchema,
    toBinary(InterfaceSchema, toProtoInterface(agentInterface(s))),
  );
  assertEquals(
    [iface.name, iface.hwAddr, iface.mtu, iface.type, iface.rawFlags],
    ["eth0", "f6:02:33:a0:61:df", 1450n, "veth", 0],
  );
  assertEquals(iface.IPAddresses.map((a) => [a.family, a.address, a.mask]), [
    [0, "10.0.0.2", "24"],
    [1, "fd00::2", "64"],
    [1, "fe80::1", "64"],
  ]);
  const routes = agentRoutes(s).map((r) =>
    fromBinary(RouteSchema, toBinary(RouteSchema, toProtoRoute(r)))
  );
  assertEquals(routes.map((r) => [r.dest, r.gateway, r.device, r.family, r.mtu]), [
    ["", "10.0.0.1", "eth0", 0, 0],
    ["192.168.7.0/24", "10.0.0.1", "eth0", 0, 1400],
    ["fd00:1::/64", "fd00::1", "eth0", 1, 0],
  ]);
  const [n] = agentNeighbours(s).map((x) =>
    fromBinary(ARPNeighborSchema, toBinary(ARPNeighborSchema, toProtoNeighbour(x)))
  );
  assertEquals([n.toIPAddress?.address, n.lladdr, n.state], [
    "10.0.0.9",
    "02:00:00:00:00:09",
    0x80,
  ]);
});
