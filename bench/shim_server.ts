/**
 * The shim under benchmark, run as users run it: the build in `dist/` (or
 * `RTS_TEST_SHIM`), its server spawned by its own `start` exactly as
 * containerd gets it. For the V8-flag comparison only, the server can be
 * spawned the way `start` spawns it (same bundled program and arguments;
 * it binds its socket itself) with other V8 flags.
 * @module
 */
import { createClient } from "@connectrpc/connect";
import { Task } from "../service/gen/containerd/task/v2/shim_pb.ts";
import { connectUnix, createTtrpcTransport } from "../ttrpc/mod.ts";
import { socketAddress, socketPath } from "../shim/address.ts";
import { SERVER_V8_FLAGS } from "../shim/self_command.ts";
import { processExists } from "../ffi/process.ts";
import { identify, killIdentified } from "../persist/process_identity.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** The bundled build: launcher, the Deno beside it and the entry JS. */
export interface Build {
  launcher: string;
  deno: string;
  js: string;
}

let built: Promise<Build> | undefined;

/**
 * The build to measure: `RTS_TEST_SHIM`, else a bundled build of this tree
 * made once per benchmark process into .cache/bench-dist (dist/ is shared:
 * another build there must not swap the program under a running benchmark).
 */
export function build(): Promise<Build> {
  return built ??= makeBuild();
}

async function makeBuild(): Promise<Build> {
  const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
  let launcher = Deno.env.get("RTS_TEST_SHIM");
  if (!launcher) {
    const dist = `${ROOT}/.cache/bench-dist`;
    await Deno.remove(dist, { recursive: true }).catch(() => {});
    await Deno.mkdir(dist, { recursive: true });
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}/scripts/build.ts`, "--bundle"],
      env: { RTS_BUILD_DIST: dist },
      stdout: "null",
    }).output();
    if (!r.success) throw new Error("Cannot build the shim for the benchmark");
    launcher = `${dist}/containerd-shim-kata-v2`;
  }
  const dir = launcher.slice(0, launcher.lastIndexOf("/"));
  const js = `${dir}/containerd-shim-kata-v2.js`;
  if (!(await exists(js))) throw new Error(`Not a bundled build: ${js} is missing`);
  return { launcher, deno: `${dir}/deno`, js };
}

/** A running shim server. */
export interface Server {
  dir: string;
  path: string;
  pid: number;
  /** Shutdown over ttRPC, then waits for the process to end (SIGKILL after 5 s). */
  stop(): Promise<void>;
}

/** Shim flags common to `start` and the server. */
function shimFlags(dir: string, id: string): string[] {
  return [
    "-namespace",
    "bench",
    "-address",
    `${dir}/containerd.sock`,
    "-publish-binary",
    "/bin/false",
    "-id",
    id,
  ];
}

/** A fresh bundle directory with a minimal config.json. */
export async function bundleDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "rts-bench-" });
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ ociVersion: "1.0.2" }));
  return dir;
}

/** Runs the shim's `start` in a fresh bundle; the server it spawned is returned. */
export async function startShim(b: Build, id: string): Promise<Server> {
  const dir = await bundleDir();
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(b.launcher, {
      args: [...shimFlags(dir, id), "start"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`start failed: ${new TextDecoder().decode(out.stderr)}`);
    }
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
  const path = socketPath(new TextDecoder().decode(out.stdout));
  const pid = Number(await Deno.readTextFile(`${dir}/shim.pid`));
  return server(dir, path, pid, id);
}

/** How a benchmark spawns the server: its V8 flags. */
export interface Variant {
  v8Flags: string;
}

/** The shipped way: `start` with {@link SERVER_V8_FLAGS}. */
export const SHIPPED: Variant = { v8Flags: SERVER_V8_FLAGS };

/** A variant's label for the tables. */
export function label(v: Variant): string {
  const flags = v.v8Flags ? `\`${v.v8Flags}\`` : "no V8 flags";
  return `${flags}${v.v8Flags === SHIPPED.v8Flags ? " (shipped)" : ""}`;
}

/**
 * Spawns the server the way `start` does (bundled program, arguments,
 * detached, no stdio; it binds its socket itself) but with `v`'s V8 flags:
 * for measuring the choices only. The shipped variant runs `start` itself.
 */
export async function spawnServer(b: Build, id: string, v: Variant): Promise<Server> {
  if (v.v8Flags === SHIPPED.v8Flags) return startShim(b, id);
  const dir = await bundleDir();
  const address = socketAddress(`${dir}/containerd.sock`, "bench", id);
  const path = socketPath(address);
  await Deno.remove(path).catch(() => {});
  const child = new Deno.Command(b.deno, {
    args: [
      "run",
      "-A",
      "--unstable-vsock",
      "--quiet",
      ...(v.v8Flags ? [`--v8-flags=${v.v8Flags}`] : []),
      "--no-config",
      "--no-lock",
      b.js,
      ...shimFlags(dir, id),
      "-socket",
      address,
      "-bundle",
      dir,
    ],
    cwd: dir,
    env: {},
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: true,
  }).spawn();
  child.unref();
  // As `start` does, wait for the socket.
  for (let i = 0; i < 2000; i++) {
    if (await Deno.stat(path).then(() => true, () => false)) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  return server(dir, path, child.pid, id);
}

/** One ttRPC Connect on a fresh connection (the server's first answer). */
export async function connectOnce(path: string, id: string): Promise<void> {
  const t = createTtrpcTransport(() => connectUnix(path), {
    metadata: [{ key: "containerd-namespace-ttrpc", value: "bench" }],
  });
  try {
    await createClient(Task, t).connect({ id });
  } finally {
    t.close();
  }
}

/** The server a `start` run in `dir` (as `id`) spawned, from its `shim.pid` and `address` files. */
export async function startedServer(dir: string, id: string): Promise<Server> {
  const pid = Number(await Deno.readTextFile(`${dir}/shim.pid`));
  const path = socketPath(await Deno.readTextFile(`${dir}/address`));
  return server(dir, path, pid, id);
}

function server(dir: string, path: string, pid: number, id: string): Server {
  // Identified now, while it is surely ours, so that the kill below can never
  // reach a process that took the pid after ours ended.
  const identity = identify(pid);
  return {
    dir,
    path,
    pid,
    async stop() {
      const t = createTtrpcTransport(() => connectUnix(path), {
        metadata: [{ key: "containerd-namespace-ttrpc", value: "bench" }],
      });
      try {
        await createClient(Task, t).shutdown({ id });
      } catch {
        // gone already, or killed below
      } finally {
        t.close();
      }
      for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
      if (identity && alive(pid)) await killIdentified(identity, "SIGKILL");
      await Deno.remove(path).catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

function alive(pid: number): boolean {
  if (!processExists(pid)) return false;
  try {
    return !Deno.readTextFileSync(`/proc/${pid}/stat`).includes(") Z ");
  } catch {
    return false;
  }
}

/** Median of `xs`. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Memory of a process from /proc/PID/smaps_rollup, KiB. */
export async function memoryKiB(pid: number): Promise<{ pss: number; priv: number; rss: number }> {
  const text = await Deno.readTextFile(`/proc/${pid}/smaps_rollup`);
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1]);
  return {
    pss: field("Pss"),
    priv: field("Private_Clean") + field("Private_Dirty"),
    rss: field("Rss"),
  };
}

/** The load average, for the tables' honesty. */
export function load(): string {
  return Deno.loadavg().map((l) => l.toFixed(1)).join(" ");
}
