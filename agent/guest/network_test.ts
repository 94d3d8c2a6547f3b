import { create } from "@bufbuild/protobuf";
import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { ARPNeighborSchema, InterfaceSchema, IPFamily, RouteSchema } from "../gen/types_pb.ts";
import {
  interfaceCommands,
  neighborArgs,
  orderRoutes,
  parseAddresses,
  parseRoutes,
  routeArgs,
  SCOPE_LINK,
  staleRouteDeletes,
  templateMacOf,
} from "./network.ts";
import { InvalidArgumentError } from "../../common/errors.ts";

Deno.test("an interface becomes rename, mtu, addresses and up", () => {
  const iface = create(InterfaceSchema, {
    name: "eth0",
    hwAddr: "02:00:00:00:00:01",
    mtu: 1500n,
    IPAddresses: [{ family: IPFamily.v4, address: "10.0.0.2", mask: "24" }, {
      family: IPFamily.v6,
      address: "fd00::2",
    }],
  });
  assertEquals(interfaceCommands(iface, "ens3"), [
    ["link", "set", "dev", "ens3", "down"],
    ["link", "set", "dev", "ens3", "name", "eth0"],
    ["link", "set", "dev", "eth0", "mtu", "1500"],
    ["addr", "flush", "dev", "eth0"],
    ["addr", "add", "10.0.0.2/24", "dev", "eth0"],
    ["addr", "add", "fd00::2/128", "dev", "eth0"],
    ["link", "set", "dev", "eth0", "up"],
  ]);
});

Deno.test("routes: default via gateway, link scope, v6, link routes first", () => {
  const gw = create(RouteSchema, { gateway: "10.0.0.1", device: "eth0" });
  const link = create(RouteSchema, {
    dest: "10.0.0.0/24",
    device: "eth0",
    scope: SCOPE_LINK,
    source: "10.0.0.2",
  });
  const v6 = create(RouteSchema, {
    dest: "fd00::/64",
    device: "eth0",
    family: IPFamily.v6,
    mtu: 1400,
  });
  assertEquals(routeArgs(gw), ["route", "replace", "default", "via", "10.0.0.1", "dev", "eth0"]);
  assertEquals(routeArgs(link), [
    "route",
    "replace",
    "10.0.0.0/24",
    "dev",
    "eth0",
    "src",
    "10.0.0.2",
    "scope",
    "link",
  ]);
  assertEquals(routeArgs(v6), [
    "-6",
    "route",
    "replace",
    "fd00::/64",
    "dev",
    "eth0",
    "mtu",
    "1400",
  ]);
  assertEquals(orderRoutes([gw, link]), [link, gw]);
});

Deno.test("ip output parses into routes and addresses", () => {
  const routes = parseRoutes(
    "default via 10.0.0.1 dev eth0 \n10.0.0.0/24 dev eth0 scope link  src 10.0.0.2 \n",
    IPFamily.v4,
  );
  assertEquals(routes.map((r) => [r.dest, r.gateway, r.device, r.source, r.scope]), [
    ["", "10.0.0.1", "eth0", "", 0],
    ["10.0.0.0/24", "", "eth0", "10.0.0.2", SCOPE_LINK],
  ]);
  const addrs = parseAddresses(
    "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n" +
      "2: eth0    inet6 fe80::1/64 scope link \\       valid_lft forever\n",
  );
  assertEquals(addrs.get("lo")?.map((a) => [a.address, a.mask, a.family]), [[
    "127.0.0.1",
    "8",
    IPFamily.v4,
  ]]);
  assertEquals(addrs.get("eth0")?.map((a) => [a.address, a.mask, a.family]), [[
    "fe80::1",
    "64",
    IPFamily.v6,
  ]]);
});

Deno.test("ARP neighbors need an address and a device", () => {
  const n = create(ARPNeighborSchema, {
    toIPAddress: { address: "10.0.0.1" },
    device: "eth0",
    lladdr: "02:00:00:00:00:09",
  });
  assertEquals(neighborArgs(n), ["-i", "eth0", "-s", "10.0.0.1", "02:00:00:00:00:09"]);
  assertThrows(
    () => neighborArgs(create(ARPNeighborSchema, {})),
    Error,
    "address, device and link-layer address are required",
  );
  assertThrows(
    () =>
      neighborArgs(
        create(ARPNeighborSchema, {
          toIPAddress: { address: "fd00::1" },
          device: "eth0",
          lladdr: "x",
        }),
      ),
    Error,
    "IPv6 neighbor fd00::1 is not supported",
  );
});

Deno.test("staleRouteDeletes keeps the kernel's address routes and other devices' routes", () => {
  const show = [
    "default via 10.213.5.1 dev eth0 ",
    "10.213.5.0/24 dev eth0 scope link  src 10.213.5.7 ",
    "10.213.6.0/24 dev eth0 scope link ",
    "10.213.5.0/24 dev eth0 proto kernel scope link src 10.213.5.7",
    "192.168.9.0/24 via 10.213.5.1 dev eth0 proto boot metric 5",
    "10.9.0.0/16 dev eth1 proto kernel scope link src 10.9.0.2",
    "",
  ].join("\n");
  assertEquals(staleRouteDeletes(show, new Set(["eth0"])), [
    ["route", "del", "default", "via", "10.213.5.1", "dev", "eth0"],
    ["route", "del", "10.213.6.0/24", "dev", "eth0"],
    ["route", "del", "192.168.9.0/24", "via", "10.213.5.1", "dev", "eth0"],
  ]);
});

Deno.test("a template clone's NIC takes its own MAC first; a malformed template MAC is refused", () => {
  const iface = create(InterfaceSchema, {
    name: "eth0",
    hwAddr: "02:AA:00:00:00:02",
    devicePath: "template-mac=02:00:00:00:7E:01",
  });
  assertEquals(templateMacOf(iface.devicePath), "02:00:00:00:7e:01");
  assertEquals(templateMacOf("02/00"), undefined, "a PCI path is not a template MAC");
  assertEquals(interfaceCommands(iface, "eth0", true).slice(0, 2), [
    ["link", "set", "dev", "eth0", "down"],
    ["link", "set", "dev", "eth0", "address", "02:aa:00:00:00:02"],
  ]);
  assertThrows(() => templateMacOf("template-mac=02:00"), InvalidArgumentError, "six hex bytes");
});
