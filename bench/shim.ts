/**
 * Whole-lifecycle benchmark against containerd-shim-runc-v2 under the same
 * private containerd: the wall time of `ctr run --rm busybox /bin/true`
 * (runs alternate between the two shims; medians), where our time goes
 * (start, Create, Start, Wait, Delete, Shutdown, exit), and the memory of
 * each shim process with four idle containers running under each (PSS from
 * `/proc/<pid>/smaps_rollup`).
 *
 * Our shim is `RTS_TEST_SHIM` when set, else the bundled build in dist/ (built
 * when missing): the product as users run it. The breakdown comes from
 * separate runs through a launcher that timestamps the `start` action (for
 * both shims alike) and from our server's debug log (containerd runs at debug
 * level, so it passes `-debug`; the server logs each RPC's duration, its
 * start-up and its exit).
 * @module
 */
import { Containerd, IMAGE } from "../tests/containerd/harness.ts";
import { build, load, median } from "./shim_server.ts";

const RUNS = Number(Deno.env.get("SHIM_BENCH_RUNS") ?? 11);
const BREAKDOWN_RUNS = Number(Deno.env.get("SHIM_BENCH_BREAKDOWN_RUNS") ?? 5);
const IDLE = 4;

async function timed(c: Containerd, args: string[]): Promise<number> {
  const t0 = performance.now();
  const r = await c.ctr(...args);
  const ms = performance.now() - t0;
  if (r.code !== 0) throw new Error(`ctr ${args.join(" ")} failed: ${r.stderr}`);
  return ms;
}

async function pssKiB(pid: number): Promise<number> {
  const text = await Deno.readTextFile(`/proc/${pid}/smaps_rollup`);
  const m = /^Pss:\s+(\d+) kB/m.exec(text);
  if (!m) throw new Error(`no Pss in /proc/${pid}/smaps_rollup`);
  return Number(m[1]);
}

// The server process of a shim: the one whose argv has `-id <id>` and no `start`.
async function shimPid(id: string): Promise<number> {
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    if (cmd.includes("containerd-shim") || cmd.includes("main.ts")) {
      if (cmd.includes(`\0-id\0${id}\0`) && !cmd.includes("\0start\0")) return Number(e.name);
    }
  }
  throw new Error(`no shim process for ${id}`);
}

/**
 * A launcher that runs `target` and appends "<last argument> <-id value> <start s> <end s>
 * <all arguments>" to `trace`.
 */
export async function tracingLauncher(
  path: string,
  target: string,
  trace: string,
): Promise<string> {
  await Deno.writeTextFile(
    path,
    `#!/bin/bash
s=$EPOCHREALTIME
"${target}" "$@"
rc=$?
e=$EPOCHREALTIME
id=; prev=; for a in "$@"; do [ "$prev" = -id ] && id=$a; prev=$a; done
echo "\${@: -1} $id $s $e $*" >> "${trace}"
exit $rc
`,
    { mode: 0o755 },
  );
  return path;
}

/** Our server's log lines for container `id` in containerd's log: RPC durations etc. */
function serverTimes(log: string, id: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of log.split("\n")) {
    if (!line.includes(`sandbox="${id}"`) && !line.includes(`sandbox=\\"${id}\\"`)) continue;
    const unq = line.replaceAll('\\"', '"');
    const rpc = / took [\d.]+ ms".*method="(\w+)".*ms=([\d.]+)/.exec(unq);
    if (rpc) out[rpc[1]] = (out[rpc[1]] ?? 0) + Number(rpc[2]);
    const serving = /msg="serving .*ms=([\d.]+)/.exec(unq);
    if (serving) out["server start-up (exec → serving)"] = Number(serving[1]);
    const exit = /msg="shim exits .*ms=([\d.]+)/.exec(unq);
    if (exit) out["exit (Shutdown → process exit)"] = Number(exit[1]);
  }
  return out;
}

/** Runs the benchmark and returns a markdown table. */
export async function run(): Promise<string> {
  const b = await build();
  const c = await Containerd.start({});
  try {
    const ours = ["run", "--runtime", b.launcher, "--runtime-config-path", configPath(c), "--rm"];
    const runc = ["run", "--runtime", "io.containerd.runc.v2", "--rm"];
    // One warm-up each (page cache, Deno's code cache).
    await timed(c, [...ours, IMAGE, "warm-ours", "/bin/true"]);
    await timed(c, [...runc, IMAGE, "warm-runc", "/bin/true"]);
    const tOurs: number[] = [];
    const tRunc: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      tOurs.push(await timed(c, [...ours, IMAGE, `t-ours-${i}`, "/bin/true"]));
      tRunc.push(await timed(c, [...runc, IMAGE, `t-runc-${i}`, "/bin/true"]));
    }
    // Breakdown runs, through tracing launchers (both shims alike).
    const trace = `${c.dir}/trace`;
    const oursT = await tracingLauncher(`${c.dir}/trace-ours`, b.launcher, trace);
    const runcBin = new TextDecoder().decode(
      (await new Deno.Command("sh", { args: ["-c", "command -v containerd-shim-runc-v2"] })
        .output()).stdout,
    ).trim();
    const runcT = await tracingLauncher(`${c.dir}/trace-runc`, runcBin, trace);
    const parts: Record<string, number[]> = {};
    const add = (k: string, v: number) => (parts[k] ??= []).push(v);
    const totals = { ours: [] as number[], runc: [] as number[] };
    for (let i = 0; i < BREAKDOWN_RUNS; i++) {
      const idO = `b-ours-${i}`;
      totals.ours.push(
        await timed(c, [
          "run",
          "--runtime",
          oursT,
          "--runtime-config-path",
          configPath(c),
          "--rm",
          IMAGE,
          idO,
          "/bin/true",
        ]),
      );
      const idR = `b-runc-${i}`;
      totals.runc.push(
        await timed(c, ["run", "--runtime", runcT, "--rm", IMAGE, idR, "/bin/true"]),
      );
      const lines = (await Deno.readTextFile(trace)).split("\n");
      for (const [who, id] of [["ours", idO], ["runc", idR]]) {
        for (const l of lines.filter((x) => x.split(" ")[1] === id)) {
          const [action, , s, e] = l.split(" ");
          add(`${who}: ${action}`, (Number(e) - Number(s)) * 1000);
        }
      }
      await new Promise((r) => setTimeout(r, 300));
      for (const [k, v] of Object.entries(serverTimes(await c.log(), idO))) add(`ours: ${k}`, v);
    }
    const pss = { ours: [] as number[], runc: [] as number[] };
    for (let i = 0; i < IDLE; i++) {
      await c.ctrMust(
        "run",
        "--runtime",
        b.launcher,
        "--runtime-config-path",
        configPath(c),
        "-d",
        IMAGE,
        `idle-ours-${i}`,
        "sleep",
        "600",
      );
      await c.ctrMust(...runc.slice(0, 3), "-d", IMAGE, `idle-runc-${i}`, "sleep", "600");
    }
    await new Promise((r) => setTimeout(r, 1000));
    for (let i = 0; i < IDLE; i++) {
      pss.ours.push(await pssKiB(await shimPid(`idle-ours-${i}`)));
      pss.runc.push(await pssKiB(await shimPid(`idle-runc-${i}`)));
    }
    const mo = median(tOurs);
    const mr = median(tRunc);
    const po = pss.ours.reduce((a, x) => a + x, 0) / IDLE;
    const pr = pss.runc.reduce((a, x) => a + x, 0) / IDLE;
    const m = (k: string) => parts[k]?.length ? median(parts[k]).toFixed(1) : "–";
    const rpcs = ["Create", "Start", "Wait", "Delete", "Shutdown"];
    const oursTotal = median(totals.ours);
    const known = [
      "ours: start",
      "ours: delete",
      ...rpcs.filter((r) => r !== "Start").map((r) => `ours: ${r}`),
    ]
      .concat(["ours: exit (Shutdown → process exit)"])
      .reduce((a, k) => a + (parts[k]?.length ? median(parts[k]) : 0), 0);
    return [
      "## Whole lifecycle through containerd 1.6",
      "",
      `Our shim: ${b.launcher} (bundled build, its server spawned by its own \`start\`). ` +
      `${RUNS} alternating runs after one warm-up each; medians. ${IDLE} idle containers per shim ` +
      `for memory. containerd runs at debug level (so shims get \`-debug\`). ` +
      `${navigator.hardwareConcurrency} cores shared with other work: load average at the end ` +
      `${load()}.`,
      "",
      "| measure | containerd-shim-kata-v2 (ours) | containerd-shim-runc-v2 | ratio |",
      "|---|---|---|---|",
      `| \`ctr run --rm busybox /bin/true\`, median ms | ${mo.toFixed(0)} | ${mr.toFixed(0)} | ${
        (mo / mr).toFixed(2)
      }× |`,
      `| PSS per shim, mean KiB (${IDLE} idle containers each) | ${po.toFixed(0)} | ${
        pr.toFixed(0)
      } | ${(po / pr).toFixed(2)}× |`,
      "",
      `### Where the time goes (${BREAKDOWN_RUNS} more alternating runs through timestamping ` +
      `launchers; medians, ms)`,
      "",
      "| part | ours | runc shim |",
      "|---|---|---|",
      `| whole \`ctr run --rm\` (through the timestamping launcher) | ${oursTotal.toFixed(0)} | ${
        median(totals.runc).toFixed(0)
      } |`,
      `| \`start\` action (exec → address returned; containerd waits for it) | ${
        m("ours: start")
      } | ${m("runc: start")} |`,
      `| \`delete\` action (when containerd runs it; – when it does not) | ${m("ours: delete")} | ${
        m("runc: delete")
      } |`,
      `| server start-up, exec → serving (overlaps containerd's dial and Create) | ${
        m("ours: server start-up (exec → serving)")
      } | – |`,
      ...rpcs.map((r) =>
        `| ${r} RPC, in the server${
          r === "Wait" ? " (issued before Start, returns at the exit: contains Start)" : ""
        } | ${m(`ours: ${r}`)} | – |`
      ),
      `| exit, Shutdown → process exit (containerd waits for the connection to close) | ${
        m("ours: exit (Shutdown → process exit)")
      } | – |`,
      `| rest: containerd, ctr, snapshots, dial, server start-up not hidden, queueing | ${
        (oursTotal - known).toFixed(0)
      } | – |`,
      "",
    ].join("\n");
  } finally {
    await c.stop();
  }
}

function configPath(c: Containerd): string {
  // The harness's `runArgs()` is ["run", "--runtime", SHIM, "--runtime-config-path", PATH].
  return c.runArgs()[4];
}

if (import.meta.main) {
  const table = await run();
  console.log(table);
  await Deno.writeTextFile(new URL("./results/shim.md", import.meta.url), table);
}
