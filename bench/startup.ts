/**
 * Start-up and footprint of the shim as users run it (the bundled build and
 * the server its `start` spawns), beside a bare Deno measured in the same
 * run, alternating, medians:
 *
 * - per action: wall time and CPU time (user + system, from the shell's
 *   `times`, which is far less sensitive to other processes' load than wall
 *   time) of `-version`, `delete`, `start`, and the time from invoking
 *   `start` until the server answers its first ttRPC request (containerd's
 *   critical path), against a bare `deno run` of an empty script and a bare
 *   Deno Unix-socket server's first answer;
 * - footprint: PSS and private memory of four idle servers (each answered
 *   one Connect) against four bare idle Deno Unix-socket servers, for the
 *   server's V8 flags and the alternatives.
 *
 * `run()` returns both tables (startup.md and footprint.md are written by `deno task bench`).
 * @module
 */
import {
  type Build,
  build,
  bundleDir,
  connectOnce,
  label,
  load,
  median,
  memoryKiB,
  SHIPPED,
  spawnServer,
  startedServer,
  startShim,
  type Variant,
} from "./shim_server.ts";
import { SERVER_V8_FLAGS } from "../shim/self_command.ts";

const ROUNDS = Number(Deno.env.get("STARTUP_BENCH_ROUNDS") ?? 11);
const IDLE = 4;
const BARE_FLAGS = ["run", "-A", "--unstable-vsock", "--quiet", "--no-config", "--no-lock"];

const BARE_SERVER = `const l = Deno.listen({ transport: "unix", path: Deno.args[0] });
for await (const c of l) c.write(new Uint8Array([1])).catch(() => {});
`;

interface Timing {
  wallMs: number;
  cpuMs: number;
}

/** Runs a command under bash, which reports its wall time and its CPU time (`times`). */
async function timed(cmd: string[], cwd?: string): Promise<Timing> {
  const out = await new Deno.Command("/bin/bash", {
    args: [
      "-c",
      's=$EPOCHREALTIME; "$@" >/dev/null 2>&1; e=$EPOCHREALTIME; echo "$s $e"; times',
      "bash",
      ...cmd,
    ],
    cwd,
    stdout: "piped",
  }).output();
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  const [s, e] = lines[0].split(" ").map(Number);
  // `times`: the shell's own line, then its children's "XmY.YYYs XmY.YYYs" (user, system).
  const sec = (t: string) => {
    const m = /(\d+)m([\d.]+)s/.exec(t)!;
    return Number(m[1]) * 60 + Number(m[2]);
  };
  const [u, sys] = lines[2].split(" ");
  return { wallMs: (e - s) * 1000, cpuMs: (sec(u) + sec(sys)) * 1000 };
}

async function bareServerFirstAnswer(deno: string, script: string, v8: string): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "rts-bench-bare-" });
  const path = `${dir}/s.sock`;
  const t0 = performance.now();
  const child = new Deno.Command(deno, {
    args: [...BARE_FLAGS.slice(0, 4), `--v8-flags=${v8}`, ...BARE_FLAGS.slice(4), script, path],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    for (;;) {
      try {
        const c = await Deno.connect({ transport: "unix", path });
        await c.read(new Uint8Array(1));
        c.close();
        return performance.now() - t0;
      } catch {
        await new Promise((r) => setTimeout(r, 1));
      }
    }
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
}

function spawnBareServer(deno: string, script: string, path: string, v8: string) {
  const flags = v8 ? [`--v8-flags=${v8}`] : [];
  return new Deno.Command(deno, {
    args: [...BARE_FLAGS.slice(0, 4), ...flags, ...BARE_FLAGS.slice(4), script, path],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function startupTable(b: Build, tmp: string): Promise<string> {
  const empty = `${tmp}/empty.js`;
  const bareServer = `${tmp}/bare_server.js`;
  const rows: Record<string, { wall: number[]; cpu: number[] }> = {};
  const add = (name: string, t: Timing | number) => {
    rows[name] ??= { wall: [], cpu: [] };
    if (typeof t === "number") rows[name].wall.push(t);
    else {
      rows[name].wall.push(t.wallMs);
      rows[name].cpu.push(t.cpuMs);
    }
  };
  const delDir = await bundleDir();
  try {
    for (let i = -1; i < ROUNDS; i++) {
      // Round -1 warms the page cache and Deno's caches; it is not counted.
      const keep = (name: string, t: Timing | number) => i >= 0 && add(name, t);
      keep("bare `deno run` of an empty script", await timed([b.deno, ...BARE_FLAGS, empty]));
      keep("`-version`", await timed([b.launcher, "-version"]));
      keep(
        "`delete` (no state left)",
        await timed([
          b.launcher,
          "-namespace",
          "bench",
          "-address",
          `${delDir}/containerd.sock`,
          "-id",
          `gone-${i + 1}`,
          "-bundle",
          delDir,
          "delete",
        ], delDir),
      );
      const dir = await bundleDir();
      const t = await timed([
        b.launcher,
        "-namespace",
        "bench",
        "-address",
        `${dir}/containerd.sock`,
        "-publish-binary",
        "/bin/false",
        "-id",
        `st-${i + 1}`,
        "start",
      ], dir);
      keep("`start` (returns the address)", t);
      // Shutdown, not a kill: a killed server leaves its socket in /run/containerd/s.
      await (await startedServer(dir, `st-${i + 1}`)).stop();
      keep(
        "bare Deno Unix server: spawn → first answer",
        await bareServerFirstAnswer(b.deno, bareServer, SERVER_V8_FLAGS),
      );
      const t0 = performance.now();
      const s = await startShim(b, `first-${i + 1}`);
      await connectOnce(s.path, `first-${i + 1}`);
      keep("`start` → server's first ttRPC answer (Connect)", performance.now() - t0);
      await s.stop();
    }
  } finally {
    await Deno.remove(delDir, { recursive: true });
  }
  const bare = median(rows["bare `deno run` of an empty script"].wall);
  const bareCpu = median(rows["bare `deno run` of an empty script"].cpu);
  const lines = Object.entries(rows).map(([name, r]) => {
    const w = median(r.wall);
    const c = r.cpu.length ? median(r.cpu) : undefined;
    return `| ${name} | ${w.toFixed(1)} | ${(w - bare).toFixed(1)} | ${
      c === undefined ? "–" : c.toFixed(0)
    } | ${c === undefined ? "–" : (c - bareCpu).toFixed(0)} |`;
  });
  return [
    "## Start-up per action, beside a bare Deno (same run)",
    "",
    `Shim: ${b.launcher} (bundled build). ${ROUNDS} alternating rounds after one warm-up; ` +
    `medians. Wall ms from the shell that runs it; CPU ms = user + system of the process tree ` +
    `(bash \`times\`, 1 ms resolution; the detached server \`start\` spawns is not in \`start\`'s). ` +
    `\`start\` returns once its server has bound the socket (or died): its wall time contains the ` +
    `server's Deno start-up to its bind. Every Deno here runs with DENO_NO_UPDATE_CHECK=1, as the ` +
    `shim's launcher sets it. ` +
    `The server rows: from invoking \`start\` (or spawning the bare server with the same V8 ` +
    `flags, \`${SERVER_V8_FLAGS}\`) until its first answer. ` +
    `${navigator.hardwareConcurrency} cores shared with other work: load average at the end ` +
    `${load()}.`,
    "",
    "| action | wall ms | Δ wall vs bare | CPU ms | Δ CPU vs bare |",
    "|---|---|---|---|---|",
    ...lines,
    "",
  ].join("\n");
}

async function footprintTable(b: Build, tmp: string): Promise<string> {
  const bareServer = `${tmp}/bare_server.js`;
  const variants: Variant[] = [
    SHIPPED,
    { v8Flags: "--max-semi-space-size=1,--lite-mode" },
    { v8Flags: "" },
  ];
  const rows: string[] = [];
  for (const v of variants) {
    const ours: { pid: number; stop(): Promise<void> }[] = [];
    const bare: Deno.ChildProcess[] = [];
    try {
      for (let i = 0; i < IDLE; i++) {
        const s = await spawnServer(b, `idle-${i}`, v);
        await connectOnce(s.path, `idle-${i}`);
        ours.push(s);
        const path = `${tmp}/bare-${i}.sock`;
        await Deno.remove(path).catch(() => {});
        const child = spawnBareServer(b.deno, bareServer, path, v.v8Flags);
        bare.push(child);
        for (let k = 0; k < 500; k++) {
          try {
            const c = await Deno.connect({ transport: "unix", path });
            await c.read(new Uint8Array(1));
            c.close();
            break;
          } catch {
            await new Promise((r) => setTimeout(r, 5));
          }
        }
      }
      await new Promise((r) => setTimeout(r, 2000));
      const mo = await Promise.all(ours.map((s) => memoryKiB(s.pid)));
      const mb = await Promise.all(bare.map((c) => memoryKiB(c.pid)));
      const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
      const mib = (kib: number) => (kib / 1024).toFixed(1);
      const po = mean(mo.map((m) => m.pss));
      const pb = mean(mb.map((m) => m.pss));
      const qo = mean(mo.map((m) => m.priv));
      const qb = mean(mb.map((m) => m.priv));
      rows.push(
        `| ${label(v)} | ${mib(po)} | ${mib(pb)} | ${mib(po - pb)} | ${mib(qo)} | ${mib(qb)} | ${
          mib(qo - qb)
        } |`,
      );
    } finally {
      for (const s of ours) await s.stop();
      for (const c of bare) {
        c.kill("SIGKILL");
        await c.status;
      }
    }
  }
  return [
    "## Idle footprint: four shim servers vs four bare Deno Unix-socket servers (same run)",
    "",
    `Our servers are spawned by the shim's \`start\` (shipped flags) or exactly as \`start\` spawns ` +
    `them with the other V8 flags; each answered one Connect, then idled 2 s. Bare: \`deno run\` ` +
    `of a Unix-socket server that answered one connection, same V8 flags. Means of ${IDLE}, MiB ` +
    `(PSS divides shared pages among all processes mapping them, other helpers' Deno processes ` +
    `included; private = Private_Clean + Private_Dirty). Both run with DENO_NO_UPDATE_CHECK=1 (as ` +
    `the shim does). Load average at the end: ${load()}.`,
    "",
    "| server V8 flags | ours PSS | bare PSS | Δ PSS | ours private | bare private | Δ private |",
    "|---|---|---|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
}

/** Runs both benchmarks; returns `{ startup, footprint }` tables. */
export async function tables(): Promise<{ startup: string; footprint: string }> {
  // The shim's launcher and `start` turn Deno's update check off; the bare Deno runs alike.
  Deno.env.set("DENO_NO_UPDATE_CHECK", "1");
  const b = await build();
  const tmp = await Deno.makeTempDir({ prefix: "rts-bench-startup-" });
  try {
    await Deno.writeTextFile(`${tmp}/empty.js`, "");
    await Deno.writeTextFile(`${tmp}/bare_server.js`, BARE_SERVER);
    const startup = await startupTable(b, tmp);
    const footprint = await footprintTable(b, tmp);
    return { startup, footprint };
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** `deno task bench startup`: both tables (footprint.md is written beside). */
export async function run(): Promise<string> {
  const { startup, footprint } = await tables();
  await Deno.writeTextFile(new URL("./results/footprint.md", import.meta.url), footprint);
  return startup;
}

if (import.meta.main) {
  const t = await tables();
  console.log(t.startup);
  console.log(t.footprint);
}
