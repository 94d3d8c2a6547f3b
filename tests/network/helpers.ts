/**
 * Test helpers for real network namespaces: namespaces made with `ip` (tests
 * only), a pod namespace wired by the CNI `bridge` plugin exactly as a
 * container runtime invokes it, and the leak checks every test ends with.
 * The plugin runs inside a "host" namespace the test made, so the bridge and
 * every address live in namespaces the test owns and removes.
 * @module
 */

import { runChecked, runShim } from "../command.ts";

const CNI_PATH = "/usr/lib/cni";
let counter = 0;

/** A short unique tag for names (ifnames are at most 15 bytes). */
export function uniqueTag(): string {
  return `${Deno.pid % 10000}${(counter++).toString(36)}${
    Math.floor(Math.random() * 36 ** 2).toString(36)
  }`;
}

/** Runs a command; throws with its stderr when it fails. */
export function run(
  cmd: string,
  args: string[],
  stdin?: string,
  env?: Record<string, string>,
): Promise<string> {
  return runChecked(cmd, args, { stdin, env });
}

/** `ip ARGS...` (tests only; the product never runs ip). */
export function ip(...args: string[]): Promise<string> {
  return run("ip", args);
}

/** A network namespace made by the test; remove it with {@link Netns.remove}. */
export class Netns {
  constructor(readonly name: string) {}
  get path(): string {
    return `/run/netns/${this.name}`;
  }
  static async create(prefix: string): Promise<Netns> {
    const ns = new Netns(`${prefix}-${uniqueTag()}`);
    await ip("netns", "add", ns.name);
    await ip("-n", ns.name, "link", "set", "lo", "up");
    return ns;
  }
  ip(...args: string[]): Promise<string> {
    return ip("-n", this.name, ...args);
  }
  async remove(): Promise<void> {
    await ip("netns", "del", this.name).catch(() => {});
  }
  /** Names of the links in the namespace. */
  async linkNames(): Promise<string[]> {
    const out = JSON.parse(await this.ip("-j", "link", "show")) as { ifname: string }[];
    return out.map((l) => l.ifname).sort();
  }
  /** Kinds of the qdiscs in the namespace, as "dev:kind". */
  async qdiscs(): Promise<string[]> {
    const out = JSON.parse(await run("tc", ["-n", this.name, "-j", "qdisc", "show"])) as {
      dev: string;
      kind: string;
    }[];
    return out.map((q) => `${q.dev}:${q.kind}`).sort();
  }
}

/** A pod namespace set up by the CNI bridge plugin, and the host-side namespace holding the bridge. */
export interface CniPod {
  host: Netns;
  pod: Netns;
  /** The plugin's ADD result. */
  result: {
    interfaces: { name: string; mac: string; sandbox?: string }[];
    ips: { address: string; gateway: string }[];
    routes?: { dst: string }[];
  };
  /** The pod's IPv4 address, without the prefix length. */
  podIp: string;
  gateway: string;
  /** CNI DEL, then both namespaces and the IPAM folder removed; never throws. */
  cleanup(): Promise<void>;
}

/** Creates a pod namespace wired by the CNI `bridge` plugin with host-local IPAM. */
export async function cniBridgePod(ifname = "eth0"): Promise<CniPod> {
  const host = await Netns.create("rts-host");
  const pod = await Netns.create("rts-pod");
  const ipamDir = await Deno.makeTempDir({ prefix: "rts-cni-ipam-" });
  const tag = uniqueTag();
  const subnet = `10.${200 + (counter % 50)}.${Math.floor(Math.random() * 250)}.0/24`;
  const config = JSON.stringify({
    cniVersion: "1.0.0",
    name: `rts-net-${tag}`,
    type: "bridge",
    bridge: `rtsbr${tag}`.slice(0, 15),
    isGateway: true,
    ipMasq: false,
    ipam: {
      type: "host-local",
      subnet,
      dataDir: ipamDir,
      routes: [{ dst: "0.0.0.0/0" }],
    },
  });
  const env = (command: string) => ({
    CNI_COMMAND: command,
    CNI_CONTAINERID: `rts-${tag}`,
    CNI_NETNS: pod.path,
    CNI_IFNAME: ifname,
    CNI_PATH,
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
  });
  // The plugin runs in the test's host namespace, the way a runtime runs it in the host's.
  const plugin = (command: string) =>
    run("ip", ["netns", "exec", host.name, `${CNI_PATH}/bridge`], config, env(command));
  const cleanup = async () => {
    await plugin("DEL").catch(() => {});
    await pod.remove();
    await host.remove();
    await Deno.remove(ipamDir, { recursive: true }).catch(() => {});
  };
  try {
    const result = JSON.parse(await plugin("ADD"));
    const [addr] = result.ips as { address: string; gateway: string }[];
    return {
      host,
      pod,
      result,
      podIp: addr.address.split("/")[0],
      gateway: addr.gateway,
      cleanup,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** Runs the shim's `shim-ctl net` with `args`; returns exit code, stdout and stderr. */
export async function shimCtlNet(args: string[]) {
  const { code, stdout, stderr } = await runShim(["shim-ctl", "net", ...args]);
  return { code, stdout, stderr };
}
