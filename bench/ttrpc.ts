/**
 * ttRPC benchmark: unary round-trip latency (p50/p99) and throughput at 1 and
 * 16 concurrent clients (one connection each, calls back to back).
 *
 * - Servers: our TtrpcServer vs Go containerd/ttrpc, both serving the same
 *   test Task service (State), both driven by the same Go client.
 * - Clients: our connect Transport vs Go's ttrpc client, both against the Go server.
 *
 * `run()` returns the markdown table and writes bench/results/ttrpc.md.
 * @module
 */
import { createClient } from "@connectrpc/connect";
import { Task } from "../service/gen/containerd/task/v2/shim_pb.ts";
import { TtrpcServer } from "../ttrpc/server.ts";
import { createTtrpcTransport } from "../ttrpc/transport.ts";
import { connectUnix } from "../ttrpc/transport/unix.ts";
import { runGoClient, startGoServer } from "../tests/interop/go_peer.ts";
import { testTaskService } from "../tests/interop/task_service.ts";

interface Stats {
  calls: number;
  p50Us: number;
  p99Us: number;
  perSecond: number;
}

const CALLS_TOTAL = Number(Deno.env.get("TTRPC_BENCH_CALLS") ?? 32000);
const ROUNDS = Number(Deno.env.get("TTRPC_BENCH_ROUNDS") ?? 5);
/** Client counts to measure, e.g. TTRPC_BENCH_CLIENTS=16 for one row group. */
const CLIENT_COUNTS = (Deno.env.get("TTRPC_BENCH_CLIENTS") ?? "1,16").split(",").map(Number);

function callsPer(conns: number): number {
  return Math.max(100, Math.floor(CALLS_TOTAL / conns));
}

async function goClient(path: string, conns: number): Promise<Stats> {
  return await runGoClient([
    "bench",
    path,
    String(conns),
    String(callsPer(conns)),
  ]) as unknown as Stats;
}

/** Our client: `conns` transports, each making its calls back to back. */
async function tsClient(path: string, conns: number): Promise<Stats> {
  const calls = callsPer(conns);
  const transports = await Promise.all(
    Array.from({ length: conns }, async () => createTtrpcTransport(await connectUnix(path))),
  );
  try {
    const clients = transports.map((t) => createClient(Task, t));
    for (const c of clients) for (let i = 0; i < 200; i++) await c.state({ id: "warm" });
    const latencies: number[] = [];
    const start = performance.now();
    await Promise.all(clients.map(async (c) => {
      for (let i = 0; i < calls; i++) {
        const t = performance.now();
        await c.state({ id: "bench", execId: "e" });
        latencies.push(performance.now() - t);
      }
    }));
    const elapsed = performance.now() - start;
    latencies.sort((a, b) => a - b);
    return {
      calls: latencies.length,
      p50Us: latencies[Math.floor(latencies.length / 2)] * 1000,
      p99Us: latencies[Math.floor(latencies.length * 99 / 100)] * 1000,
      perSecond: latencies.length / (elapsed / 1000),
    };
  } finally {
    for (const t of transports) t.close();
  }
}

/** Serves the test Task service on `path` until killed (the benchmark's server process). */
async function serveForever(path: string): Promise<void> {
  const server = new TtrpcServer().register(Task, testTaskService);
  const serving = server.serve(Deno.listen({ transport: "unix", path }));
  console.log("READY");
  await serving;
}

/** Runs our server in its own Deno process, as the Go server runs in its own. */
async function withTsServer<T>(fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "bench-ttrpc-" });
  const path = `${dir}/ts.sock`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "serve", path],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.getReader();
    let seen = "";
    while (!seen.includes("READY")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`benchmark server exited before listening: ${seen}`);
      seen += new TextDecoder().decode(value);
    }
    reader.releaseLock();
    return await fn(path);
  } finally {
    child.kill("SIGTERM");
    await child.stdout.cancel().catch(() => {});
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
}

async function withGoServer<T>(fn: (path: string) => Promise<T>): Promise<T> {
  const go = await startGoServer();
  try {
    return await fn(go.path);
  } finally {
    await go.stop();
  }
}

function row(what: string, conns: number, s: Stats): string {
  return `| ${what} | ${conns} | ${s.calls} | ${s.p50Us.toFixed(1)} | ${s.p99Us.toFixed(1)} | ${
    Math.round(s.perSecond)
  } |`;
}

/** Runs the benchmark and returns a markdown table (also written to bench/results/ttrpc.md). */
export async function run(): Promise<string> {
  const rows: string[] = [];
  const pairings: [string, (conns: number) => Promise<Stats>][] = [
    ["Go client → **our server**", (c) => withTsServer((p) => goClient(p, c))],
    ["Go client → Go server", (c) => withGoServer((p) => goClient(p, c))],
    ["**our client** → Go server", (c) => withGoServer((p) => tsClient(p, c))],
  ];
  for (const conns of CLIENT_COUNTS) {
    // Rounds alternate the pairings so that load from other processes hits all of them alike;
    // each pairing reports its median-throughput round.
    const results: Stats[][] = pairings.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, [, measure]] of pairings.entries()) results[i].push(await measure(conns));
    }
    for (const [i, [name]] of pairings.entries()) {
      const sorted = results[i].sort((a, b) => a.perSecond - b.perSecond);
      rows.push(row(name, conns, sorted[Math.floor(sorted.length / 2)]));
    }
  }
  const cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.*)/)?.[1] ?? "?";
  const table = [
    "## ttRPC unary round trip (containerd.task.v2.Task/State, Unix socket)",
    "",
    `Host: ${navigator.hardwareConcurrency} CPUs (${cpu}), Deno ${Deno.version.deno}, Go ttrpc 1.1.1 (Debian). ` +
    `Each client is one connection making calls back to back; latency is per call. Servers run in their own process; ` +
    `each row is the median-throughput of ${ROUNDS} alternating rounds. Load average at the end: ${
      Deno.loadavg().map((x) => x.toFixed(1)).join(" ")
    }.`,
    "",
    "| pairing | clients | calls | p50 µs | p99 µs | calls/s |",
    "|---|---|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
  await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
  await Deno.writeTextFile(new URL("./results/ttrpc.md", import.meta.url), table);
  return table;
}

if (import.meta.main) {
  if (Deno.args[0] === "serve" && Deno.args[1]) await serveForever(Deno.args[1]);
  else console.log(await run());
}
