/**
 * Shim benchmark against containerd-shim-runc-v2 under the same private
 * containerd: the wall time of `ctr run --rm busybox /bin/true` (runs
 * alternate between the two shims; medians), and the memory of each shim
 * process with four idle containers running under each (PSS from
 * `/proc/<pid>/smaps_rollup`: most of a Deno process is its shared binary).
 * Our shim is `RTS_TEST_SHIM` when set (e.g. dist/containerd-shim-kata-v2),
 * else the source through the pinned Deno.
 * @module
 */
import { Containerd, IMAGE } from "../tests/containerd/harness.ts";

const RUNS = 15;
const IDLE = 4;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

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

/** Runs the benchmark and returns a markdown table. */
export async function run(): Promise<string> {
  const c = await Containerd.start();
  try {
    const ours = [...c.runArgs(), "--rm", IMAGE];
    const runc = ["run", "--runtime", "io.containerd.runc.v2", "--rm", IMAGE];
    // One warm-up each (page cache, Deno's module cache).
    await timed(c, [...ours, "warm-ours", "/bin/true"]);
    await timed(c, [...runc, "warm-runc", "/bin/true"]);
    const tOurs: number[] = [];
    const tRunc: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      tOurs.push(await timed(c, [...ours, `t-ours-${i}`, "/bin/true"]));
      tRunc.push(await timed(c, [...runc, `t-runc-${i}`, "/bin/true"]));
    }
    const pss = { ours: [] as number[], runc: [] as number[] };
    for (let i = 0; i < IDLE; i++) {
      await c.ctrMust(...c.runArgs(), "-d", IMAGE, `idle-ours-${i}`, "sleep", "600");
      await c.ctrMust(
        "run",
        "--runtime",
        "io.containerd.runc.v2",
        "-d",
        IMAGE,
        `idle-runc-${i}`,
        "sleep",
        "600",
      );
    }
    await new Promise((r) => setTimeout(r, 1000));
    for (let i = 0; i < IDLE; i++) {
      pss.ours.push(await pssKiB(await shimPid(`idle-ours-${i}`)));
      pss.runc.push(await pssKiB(await shimPid(`idle-runc-${i}`)));
    }
    const mo = median(tOurs);
    const mr = median(tRunc);
    const po = pss.ours.reduce((a, b) => a + b, 0) / IDLE;
    const pr = pss.runc.reduce((a, b) => a + b, 0) / IDLE;
    const shim = Deno.env.get("RTS_TEST_SHIM") ?? "source (main.ts via the pinned Deno)";
    const load = Deno.loadavg().map((l) => l.toFixed(1)).join(" ");
    return [
      `Our shim: ${shim}. ${RUNS} alternating runs after one warm-up each; ${IDLE} idle containers ` +
      `per shim. Load average at the end: ${load} (${navigator.hardwareConcurrency} cores).`,
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
    ].join("\n");
  } finally {
    await c.stop();
  }
}

if (import.meta.main) {
  const table = await run();
  console.log(table);
  await Deno.writeTextFile(new URL("./results/shim.md", import.meta.url), table);
}
