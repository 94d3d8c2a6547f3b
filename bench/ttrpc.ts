/**
 * ttRPC benchmark: unary round-trip latency (p50/p99) and throughput at 1 and
 * 16 concurrent clients (one connection each, calls back to back).
 *
 * - Servers: our TtrpcServer vs Go containerd/ttrpc, both serving the same
 *   test Task service (State), both driven by the same Go client.
 * - Clients: our connect Transport vs Go's ttrpc client, both against the Go server.
 *
 * Besides latency and throughput, each row gives the CPU time per call of the
 * server process and of the client process (all threads, warm-up calls
 * included on both sides alike): unlike throughput, it hardly depends on the
 * load other processes put on the host.
 *
 * `run()` returns the markdown table and writes bench/results/ttrpc.md.
 * @module
 */
import { createClient } from "@connectrpc/connect";
import { Task } from "../service/gen/containerd/task/v2/shim_pb.ts";
import { TtrpcServer } from "../ttrpc/server.ts";
import { createTtrpcTransport } from "../ttrpc/transport.ts";
import { connectUnix } from "../ttrpc/transport/unix.ts";
import { goPeerBinary, startGoServer } from "../tests/interop/go_peer.ts";
import { testTaskService } from "../tests/interop/task_service.ts";
import { type Build, build, label, SHIPPED, spawnServer, type Variant } from "./shim_server.ts";

interface Stats {
  calls: number;
  p50Us: number;
  p99Us: number;
  perSecond: number;
  /** CPU seconds the client process spent, warm-up included. */
  clientCpuS: number;
}

interface Row extends Stats {
  serverCpuUsPerCall: number;
  clientCpuUsPerCall: number;
}

/** Warm-up calls per connection, in the Go peer and in our client alike. */
const WARMUP_CALLS = 200;

const CALLS_TOTAL = Number(Deno.env.get("TTRPC_BENCH_CALLS") ?? 32000);
const ROUNDS = Number(Deno.env.get("TTRPC_BENCH_ROUNDS") ?? 3);
/** Client counts to measure, e.g. TTRPC_BENCH_CLIENTS=16 for one row group. */
const CLIENT_COUNTS = (Deno.env.get("TTRPC_BENCH_CLIENTS") ?? "1,16").split(",").map(Number);

function callsPer(conns: number): number {
  return Math.max(100, Math.floor(CALLS_TOTAL / conns));
}

/** CPU seconds (all threads) a live process has used so far, from /proc/PID/task/x/schedstat. */
async function processCpuS(pid: number): Promise<number> {
  let ns = 0;
  for await (const task of Deno.readDir(`/proc/${pid}/task`)) {
    try {
      ns += Number(
        (await Deno.readTextFile(`/proc/${pid}/task/${task.name}/schedstat`)).split(" ")[0],
      );
    } catch {
      // The thread ended meanwhile.
    }
  }
  return ns / 1e9;
}

/**
 * Runs the Go peer's bench client. A shell runs it and prints its own
 * children's CPU time (cutime + cstime of /proc/self/stat) afterwards, which
 * is the Go client's CPU time (clock-tick resolution).
 */
async function goClient(path: string, conns: number, method = "state"): Promise<Stats> {
  const bin = await goPeerBinary();
  const { code, stdout, stderr } = await new Deno.Command("/bin/sh", {
    args: [
      "-c",
      '"$0" "$@" && echo "cpu $(cut -d" " -f16,17 /proc/$$/stat) $(getconf CLK_TCK)" >&2',
      bin,
      "bench",
      path,
      String(conns),
      String(callsPer(conns)),
      method,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(stderr);
  if (code !== 0) throw new Error(`ttrpc_peer bench failed (exit ${code}): ${err}`);
  const cpu = err.match(/^cpu (\d+) (\d+) (\d+)$/m);
  if (!cpu) throw new Error(`ttrpc_peer bench: no CPU time reported: ${err}`);
  const stats = JSON.parse(new TextDecoder().decode(stdout));
  return { ...stats, clientCpuS: (Number(cpu[1]) + Number(cpu[2])) / Number(cpu[3]) };
}

/** Our client: `conns` transports, each making its calls back to back. */
async function tsClient(path: string, conns: number): Promise<Stats> {
  const calls = callsPer(conns);
  const transports = await Promise.all(
    Array.from({ length: conns }, async () => createTtrpcTransport(await connectUnix(path))),
  );
  try {
    const cpuStart = await processCpuS(Deno.pid);
    const clients = transports.map((t) => createClient(Task, t));
    for (const c of clients) for (let i = 0; i < WARMUP_CALLS; i++) await c.state({ id: "warm" });
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
    const clientCpuS = await processCpuS(Deno.pid) - cpuStart;
    latencies.sort((a, b) => a - b);
    return {
      calls: latencies.length,
      p50Us: latencies[Math.floor(latencies.length / 2)] * 1000,
      p99Us: latencies[Math.floor(latencies.length * 99 / 100)] * 1000,
      perSecond: latencies.length / (elapsed / 1000),
      clientCpuS,
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
async function withTsServer<T>(fn: (path: string, pid: number) => Promise<T>): Promise<T> {
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
    return await fn(path, child.pid);
  } finally {
    child.kill("SIGTERM");
    await child.stdout.cancel().catch(() => {});
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * The shim's real server, spawned by its own `start` (or, for `v8Flags`
 * other than the shipped ones, exactly as `start` spawns it with those).
 */
async function withShimServer<T>(
  b: Build,
  v: Variant,
  fn: (path: string, pid: number) => Promise<T>,
): Promise<T> {
  const s = await spawnServer(b, `bench-${crypto.randomUUID().slice(0, 8)}`, v);
  try {
    return await fn(s.path, s.pid);
  } finally {
    await s.stop();
  }
}

async function withGoServer<T>(fn: (path: string, pid: number) => Promise<T>): Promise<T> {
  const go = await startGoServer();
  try {
    return await fn(go.path, go.pid);
  } finally {
    await go.stop();
  }
}

/** Runs one client pass against the server `pid` on `path`, adding both sides' CPU per call. */
async function measured(
  path: string,
  pid: number,
  conns: number,
  client: (path: string, conns: number) => Promise<Stats>,
): Promise<Row> {
  const before = await processCpuS(pid);
  const stats = await client(path, conns);
  const serverCpuS = await processCpuS(pid) - before;
  const allCalls = stats.calls + conns * WARMUP_CALLS;
  return {
    ...stats,
    serverCpuUsPerCall: serverCpuS * 1e6 / allCalls,
    clientCpuUsPerCall: stats.clientCpuS * 1e6 / allCalls,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function row(what: string, conns: number, rounds: Row[]): string {
  // Latency and throughput from the median-throughput round; CPU per call: the median of each side.
  const s = [...rounds].sort((a, b) => a.perSecond - b.perSecond)[Math.floor(rounds.length / 2)];
  const server = median(rounds.map((r) => r.serverCpuUsPerCall));
  const client = median(rounds.map((r) => r.clientCpuUsPerCall));
  return `| ${what} | ${conns} | ${s.calls} | ${s.p50Us.toFixed(1)} | ${s.p99Us.toFixed(1)} | ${
    Math.round(s.perSecond)
  } | ${server.toFixed(1)} | ${client.toFixed(1)} |`;
}

/** Runs the benchmark and returns a markdown table (also written to bench/results/ttrpc.md). */
export async function run(): Promise<string> {
  const rows: string[] = [];
  const b = await build();
  const connect = (p: string, c: number) => goClient(p, c, "connect");
  const variants: Variant[] = [
    SHIPPED,
    { v8Flags: "--max-semi-space-size=1,--lite-mode" },
    // The young generation's cap is a memory choice: this row prices it in calls.
    { v8Flags: "" },
  ];
  const pairings: [string, (conns: number) => Promise<Row>][] = [
    ["Go client → **our server**", (c) => withTsServer((p, pid) => measured(p, pid, c, goClient))],
    ["Go client → Go server", (c) => withGoServer((p, pid) => measured(p, pid, c, goClient))],
    ["**our client** → Go server", (c) => withGoServer((p, pid) => measured(p, pid, c, tsClient))],
    ...variants.map((v): [string, (conns: number) => Promise<Row>] => [
      `Connect: Go client → **our shim server**, ${label(v)}`,
      (c) => withShimServer(b, v, (p, pid) => measured(p, pid, c, connect)),
    ]),
    [
      "Connect: Go client → Go server",
      (c) => withGoServer((p, pid) => measured(p, pid, c, connect)),
    ],
  ];
  for (const conns of CLIENT_COUNTS) {
    // Rounds alternate the pairings so that load from other processes hits all of them alike.
    const results: Row[][] = pairings.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, [, measure]] of pairings.entries()) results[i].push(await measure(conns));
    }
    for (const [i, [name]] of pairings.entries()) rows.push(row(name, conns, results[i]));
  }
  const cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.*)/)?.[1] ?? "?";
  const table = [
    "## ttRPC unary round trip (containerd.task.v2.Task State and Connect, Unix socket)",
    "",
    `Host: ${navigator.hardwareConcurrency} CPUs (${cpu}), Deno ${Deno.version.deno}, Go ttrpc 1.1.1 (Debian). ` +
    `Each client is one connection making calls back to back; latency is per call. Servers run in their own process; ` +
    `the first three rows serve the test Task service (State) from a bench process with default flags; the ` +
    `Connect rows are the shim's real server run by its \`start\` from the bundled build (the socket it binds ` +
    `itself with Deno.listen, V8 flags) against Go's test server's Connect, in the same run; ` +
    `each row is the median-throughput of ${ROUNDS} alternating rounds; the CPU columns are medians of the ` +
    `CPU time per call (all threads, warm-up calls included) of the server and of the client process. ` +
    `Load average at the end: ${Deno.loadavg().map((x) => x.toFixed(1)).join(" ")}.`,
    "",
    "| pairing | clients | calls | p50 µs | p99 µs | calls/s | server CPU µs/call | client CPU µs/call |",
    "|---|---|---|---|---|---|---|---|",
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
