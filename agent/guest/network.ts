/**
 * Guest networking for UpdateInterface, UpdateRoutes, ListInterfaces,
 * ListRoutes and AddARPNeighbors, through the guest's `ip` and `arp` (busybox). The
 * conversions between the agent's types and `ip` are pure and tested; the
 * commands run only in the guest.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import {
  type ARPNeighbor,
  type Interface,
  InterfaceSchema,
  IPFamily,
  type Route,
  RouteSchema,
} from "../gen/types_pb.ts";
import {
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  UnimplementedError,
} from "../../common/errors.ts";

/** Route scope "link" (RT_SCOPE_LINK), used for routes without a gateway. */
export const SCOPE_LINK = 253;

/**
 * The `devicePath` prefix by which the shim names the NIC of a VM restored
 * from a template: `template-mac=<MAC>`, the MAC the template's guest probed
 * the NIC with. That link takes the interface's `hwAddr` (a clone's own
 * MAC) before the rest is applied. An agent that does not know the prefix
 * reads it as a bad device path and refuses the request.
 */
const TEMPLATE_MAC_PREFIX = "template-mac=";

/** The template MAC a `devicePath` names, if it has the {@link TEMPLATE_MAC_PREFIX} form. */
export function templateMacOf(devicePath: string): string | undefined {
  if (!devicePath.startsWith(TEMPLATE_MAC_PREFIX)) return undefined;
  const mac = devicePath.slice(TEMPLATE_MAC_PREFIX.length).toLowerCase();
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac)) {
    throw new InvalidArgumentError(`Template MAC ${JSON.stringify(mac)} is not six hex bytes`);
  }
  return mac;
}

/**
 * `ip` invocations that give link `link` the name, MTU and addresses of
 * `iface` (and its MAC first when `setMac`: a template clone's NIC).
 */
export function interfaceCommands(iface: Interface, link: string, setMac = false): string[][] {
  const name = iface.name || link;
  const cmds: string[][] = [["link", "set", "dev", link, "down"]];
  if (setMac) cmds.push(["link", "set", "dev", link, "address", iface.hwAddr.toLowerCase()]);
  if (name !== link) cmds.push(["link", "set", "dev", link, "name", name]);
  if (iface.mtu > 0n) cmds.push(["link", "set", "dev", name, "mtu", String(iface.mtu)]);
  cmds.push(["addr", "flush", "dev", name]);
  for (const a of iface.IPAddresses) {
    if (!a.address) {
      throw new InvalidArgumentError(`Invalid address for interface "${name}": empty`);
    }
    const prefix = a.mask || (a.family === IPFamily.v6 ? "128" : "32");
    cmds.push(["addr", "add", `${a.address}/${prefix}`, "dev", name]);
  }
  cmds.push(["link", "set", "dev", name, "up"]);
  return cmds;
}

/** The `ip route` arguments adding `r`. */
export function routeArgs(r: Route): string[] {
  const args = r.family === IPFamily.v6 ? ["-6", "route", "replace"] : ["route", "replace"];
  args.push(r.dest || "default");
  if (r.gateway) args.push("via", r.gateway);
  if (r.device) args.push("dev", r.device);
  if (r.source) args.push("src", r.source);
  if (r.scope === SCOPE_LINK) args.push("scope", "link");
  if (r.mtu > 0) args.push("mtu", String(r.mtu));
  return args;
}

/** Routes without a gateway first: a gateway must be reachable when its route is added. */
export function orderRoutes(routes: Route[]): Route[] {
  return [...routes.filter((r) => !r.gateway), ...routes.filter((r) => r.gateway)];
}

/**
 * The `arp` arguments adding `n` as a permanent entry (busybox `ip neigh`
 * cannot add entries; `arp -s` makes them permanent unless `temp`).
 * @throws {InvalidArgumentError} without address, device or link-layer address
 * @throws {UnimplementedError} for IPv6 neighbours
 */
export function neighborArgs(n: ARPNeighbor): string[] {
  const ip = n.toIPAddress?.address;
  if (!ip || !n.device || !n.lladdr) {
    throw new InvalidArgumentError(
      "Invalid ARP neighbor: address, device and link-layer address are required",
    );
  }
  if (n.toIPAddress?.family === IPFamily.v6 || ip.includes(":")) {
    throw new UnimplementedError(`IPv6 neighbor ${ip} is not supported`);
  }
  return ["-i", n.device, "-s", ip, n.lladdr];
}

/** Parses `ip -o route show` lines (of one family) into routes. */
export function parseRoutes(text: string, family: IPFamily): Route[] {
  const routes: Route[] = [];
  for (const line of text.split("\n")) {
    const t = line.trim().split(/\s+/);
    if (t.length === 0 || !t[0] || ["broadcast", "local", "unreachable"].includes(t[0])) continue;
    const get = (k: string) => {
      const i = t.indexOf(k);
      return i >= 0 ? t[i + 1] ?? "" : "";
    };
    routes.push(create(RouteSchema, {
      dest: t[0] === "default" ? "" : t[0],
      gateway: get("via"),
      device: get("dev"),
      source: get("src"),
      scope: get("scope") === "link" ? SCOPE_LINK : 0,
      family,
      mtu: parseInt(get("mtu"), 10) || 0,
    }));
  }
  return routes;
}

/** Parses `ip -o addr show` lines into {device → addresses}. */
export function parseAddresses(text: string): Map<string, Interface["IPAddresses"]> {
  const out = new Map<string, Interface["IPAddresses"]>();
  for (const line of text.split("\n")) {
    const m = line.match(/^\d+:\s+(\S+)\s+(inet6?)\s+([0-9a-fA-F.:]+)\/(\d+)/);
    if (!m) continue;
    const list = out.get(m[1]) ?? [];
    list.push({
      $typeName: "types.IPAddress",
      family: m[2] === "inet6" ? IPFamily.v6 : IPFamily.v4,
      address: m[3],
      mask: m[4],
    });
    out.set(m[1], list);
  }
  return out;
}

async function tool(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new InternalError(`${cmd} ${args.join(" ")} failed: ${dec.decode(out.stderr).trim()}`);
  }
  return dec.decode(out.stdout);
}

const ip = (args: string[]) => tool("ip", args);

async function readSys(path: string): Promise<string> {
  return (await Deno.readTextFile(path).catch(() => "")).trim();
}

/** The guest's links with their addresses. */
export async function listInterfaces(sysNet = "/sys/class/net"): Promise<Interface[]> {
  const addrs = parseAddresses(await ip(["-o", "addr", "show"]));
  const out: Interface[] = [];
  const names: string[] = [];
  for await (const e of Deno.readDir(sysNet)) names.push(e.name);
  for (const name of names.sort()) {
    out.push(create(InterfaceSchema, {
      name,
      device: name,
      hwAddr: await readSys(`${sysNet}/${name}/address`),
      mtu: BigInt(parseInt(await readSys(`${sysNet}/${name}/mtu`), 10) || 0),
      rawFlags: parseInt(await readSys(`${sysNet}/${name}/flags`), 16) || 0,
      IPAddresses: addrs.get(name) ?? [],
    }));
  }
  return out;
}

/**
 * Applies `iface` to the link with its hardware address, or, for a
 * template clone's NIC (`devicePath` `template-mac=<MAC>`), to the link
 * with the template's MAC, which takes `hwAddr` first.
 * @throws {NotFoundError} "Link not found" while no link has that address (the NIC may not have appeared yet)
 */
export async function updateInterface(
  iface: Interface,
  sysNet = "/sys/class/net",
): Promise<Interface> {
  const mac = iface.hwAddr.toLowerCase();
  const templateMac = templateMacOf(iface.devicePath);
  const links = new Map<string, string>();
  for await (const e of Deno.readDir(sysNet)) {
    links.set((await readSys(`${sysNet}/${e.name}/address`)).toLowerCase(), e.name);
  }
  const link = links.get(mac) ?? (templateMac ? links.get(templateMac) : undefined);
  if (!link) throw new NotFoundError(`Link not found: no interface with hardware address ${mac}`);
  const setMac = !links.has(mac);
  for (const args of interfaceCommands(iface, link, setMac)) await ip(args);
  return iface;
}

/** The guest's IPv4 and IPv6 routes (main table). */
export async function listRoutes(): Promise<Route[]> {
  const v4 = parseRoutes(await ip(["-o", "route", "show"]), IPFamily.v4);
  const v6 = parseRoutes(await ip(["-o", "-6", "route", "show"]).catch(() => ""), IPFamily.v6);
  return [...v4, ...v6];
}

/**
 * The `ip route del` arguments removing the routes of `devices` listed in
 * `ip -o route show` output `text`, except those the kernel made for the
 * links' addresses (`proto kernel`, or the shape busybox prints): the shim leaves those out of
 * UpdateRoutes (the guest kernel makes its own), so a flush would leave a
 * gateway unreachable ("Network is unreachable"), as the agent upstream
 * keeps them too.
 */
export function staleRouteDeletes(text: string, devices: Set<string>): string[][] {
  const out: string[][] = [];
  for (const line of text.split("\n")) {
    const t = line.trim().split(/\s+/).filter((x) => x);
    if (t.length === 0) continue;
    const dev = t[t.indexOf("dev") + 1];
    if (t.indexOf("dev") < 0 || !devices.has(dev)) continue;
    const proto = t.indexOf("proto");
    if (proto >= 0 && t[proto + 1] === "kernel") continue;
    // busybox's ip prints no "proto kernel": an address route shows as
    // "<subnet> dev <d> scope link src <address>" (no gateway).
    if (!t.includes("via") && t.includes("src") && t[t.indexOf("scope") + 1] === "link") continue;
    if (["broadcast", "local", "unreachable", "multicast"].includes(t[0])) continue;
    // Everything up to the device names the route for `ip route del`.
    out.push(["route", "del", ...t.slice(0, t.indexOf("dev") + 2)]);
  }
  return out;
}

/** Replaces the routes of the devices named in `routes` with `routes`; returns the guest's routes. */
export async function updateRoutes(routes: Route[]): Promise<Route[]> {
  const devices = new Set(routes.map((r) => r.device).filter((d) => d && d !== "lo"));
  const current = await ip(["-o", "route", "show"]).catch(() => "");
  for (const args of staleRouteDeletes(current, devices)) await ip(args).catch(() => "");
  for (const r of orderRoutes(routes)) await ip(routeArgs(r));
  return await listRoutes();
}

/** Adds permanent ARP entries. */
export async function addNeighbors(neighbors: ARPNeighbor[]): Promise<void> {
  for (const n of neighbors) await tool("arp", neighborArgs(n));
}
