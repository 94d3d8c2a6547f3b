/**
 * Network plumbing benchmark: the time to attach and detach the tcfilter
 * model for one pod link (tap with the link's MTU, ingress qdiscs on both,
 * redirects both ways, then removal) in a CNI-made pod namespace.
 *
 * - Ours: rtnetlink, tun and ethtool through FFI in one process
 *   (`plumb`/`unplumb`, what `shim-ctl net attach|detach` and the shim run).
 * - Peer: the same objects made and removed with iproute2 (`ip`, `tc`), one
 *   process per step, as a shell-based setup does.
 *
 * `run()` returns the markdown table (the runner writes bench/results/net.md).
 * @module
 */
import { withRtNetlink } from "../ffi/netlink.ts";
import { plumb, unplumb } from "../resource/network/plumbing.ts";
import { scanNetns } from "../resource/network/scan.ts";
import { cniBridgePod, run as sh } from "../tests/network/helpers.ts";

const ROUNDS = Number(Deno.env.get("NET_BENCH_ROUNDS") ?? 50);

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

async function peerRound(ns: string): Promise<void> {
  const ip = (...a: string[]) => sh("ip", ["-n", ns, ...a]);
  const tc = (...a: string[]) => sh("tc", ["-n", ns, ...a]);
  await ip("tuntap", "add", "tap0_kata", "mode", "tap", "vnet_hdr");
  await ip("link", "set", "tap0_kata", "mtu", "1500", "up");
  await tc("qdisc", "add", "dev", "tap0_kata", "ingress");
  await tc("qdisc", "add", "dev", "eth0", "ingress");
  for (const [a, b] of [["tap0_kata", "eth0"], ["eth0", "tap0_kata"]]) {
    await tc(
      "filter",
      "add",
      "dev",
      a,
      "parent",
      "ffff:",
      "protocol",
      "all",
      "u32",
      "match",
      "u8",
      "0",
      "0",
      "action",
      "mirred",
      "egress",
      "redirect",
      "dev",
      b,
    );
  }
  await tc("qdisc", "del", "dev", "eth0", "ingress");
  await ip("link", "del", "tap0_kata");
}

/** Runs the benchmark and returns its markdown table. */
export async function run(): Promise<string> {
  const pod = await cniBridgePod();
  try {
    const [link] = scanNetns(pod.pod.path);
    const ours: number[] = [];
    const peer: number[] = [];
    for (let i = 0; i < ROUNDS + 5; i++) {
      const t0 = performance.now();
      withRtNetlink(pod.pod.path, (nl) => {
        const rec = plumb(nl, {
          netns: pod.pod.path,
          link: link.link,
          addresses: link.addresses,
          tap: "tap0_kata",
          queues: 1,
          model: "tcfilter",
        });
        unplumb(nl, rec);
      });
      const t1 = performance.now();
      await peerRound(pod.pod.name);
      const t2 = performance.now();
      if (i >= 5) { // the first rounds warm caches on both sides
        ours.push(t1 - t0);
        peer.push(t2 - t1);
      }
    }
    const row = (who: string, xs: number[]) =>
      `| ${who} | ${xs.length} | ${percentile(xs, 0.5).toFixed(2)} | ${
        percentile(xs, 0.99).toFixed(2)
      } |`;
    return [
      "## tcfilter attach + detach of one pod link (CNI bridge netns)",
      "",
      `Host: ${navigator.hardwareConcurrency} CPUs, Deno ${Deno.version.deno}. One round = tap, MTU/up, ` +
      "two ingress qdiscs, two redirect filters, then removal.",
      "",
      "| implementation | rounds | p50 ms | p99 ms |",
      "|---|---|---|---|",
      row("**ours** (rtnetlink/tun via FFI, one process)", ours),
      row("iproute2 `ip`/`tc`, one process per step", peer),
    ].join("\n");
  } finally {
    await pod.cleanup();
  }
}

if (import.meta.main) console.log(await run());
