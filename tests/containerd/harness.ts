/**
 * A private containerd (1.6, 1.7 or 2.1: tests/containerd/versions.ts) for
 * end-to-end tests: its own root, state and
 * sockets under a temp dir (the CRI plugin disabled), a busybox image built
 * locally with umoci from busybox-static (the OCI tar is cached under
 * `.cache/`), `ctr` bound to it, a launcher for our shim, and a leak check.
 * @module
 */
import { assert } from "../assert.ts";
import { removeTree } from "../../persist/remove_tree.ts";
import {
  type CniNetwork,
  CRI_NAMESPACE,
  criConfigLines,
  type CriOptions,
  criShimEnv,
  pauseImageTar,
  writeCniConfig,
} from "../cri/cri_env.ts";
import {
  containerdBinDir,
  type ContainerdVersion,
  DEFAULT_CONTAINERD,
  isContainerd2,
} from "./versions.ts";

const REPO = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const CACHE = `${REPO}/.cache`;
/** The image reference tests run. */
export const IMAGE = "example.local/busybox:latest";
/** The linux_container configuration shipped with the shim. */
export const LINUX_CONTAINER_CONFIG = `${REPO}/config/configuration-linux-container.toml`;
/** The OCI runtime root of configuration-linux-container.toml. */
const RUNC_ROOT = "/run/kata-containers/linux-container";
/** Where ctr puts its stdio FIFOs. */
const FIFO_DIR = "/run/containerd/fifo";

/** Output of one command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (optionally feeding stdin). */
export async function run(cmd: string, args: string[], stdin?: string): Promise<RunResult> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function must(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** Builds (once) the busybox OCI image tar and returns its path. */
export async function busyboxImageTar(): Promise<string> {
  const tar = `${CACHE}/busybox-oci.tar`;
  try {
    await Deno.stat(tar);
    return tar;
  } catch {
    // build it
  }
  await Deno.mkdir(CACHE, { recursive: true });
  const work = await Deno.makeTempDir({ dir: CACHE, prefix: "image-" });
  try {
    const layout = `${work}/layout`;
    const bundle = `${work}/bundle`;
    await must("umoci", ["init", "--layout", layout]);
    await must("umoci", ["new", "--image", `${layout}:latest`]);
    await must("umoci", ["unpack", "--image", `${layout}:latest`, bundle]);
    const rootfs = `${bundle}/rootfs`;
    for (const d of ["bin", "tmp", "proc", "sys", "dev", "etc"]) {
      await Deno.mkdir(`${rootfs}/${d}`, { recursive: true });
    }
    await Deno.copyFile("/bin/busybox", `${rootfs}/bin/busybox`);
    await Deno.chmod(`${rootfs}/bin/busybox`, 0o755);
    const applets = (await must("/bin/busybox", ["--list"])).split("\n").filter((a) => a);
    for (const a of applets) {
      if (a !== "busybox") await Deno.symlink("busybox", `${rootfs}/bin/${a}`);
    }
    await must("umoci", ["repack", "--image", `${layout}:latest`, bundle]);
    await must("umoci", [
      "config",
      "--image",
      `${layout}:latest`,
      "--config.cmd",
      "/bin/sh",
      "--config.env",
      "PATH=/bin",
    ]);
    // A private temporary name: test files running in parallel may build it at once.
    const tmp = `${work}/busybox-oci.tar`;
    await must("tar", ["-C", layout, "-cf", tmp, "."]);
    await Deno.rename(tmp, tar);
    return tar;
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

/**
 * Writes a launcher that runs our shim: the binary named by `RTS_TEST_SHIM`
 * (e.g. `dist/containerd-shim-kata-v2` after `deno task build`), else the
 * source through the pinned Deno (a stale dist/ must not hide source changes).
 */
export async function shimLauncher(
  dir: string,
  env: Record<string, string> = {},
): Promise<string> {
  const path = `${dir}/containerd-shim-kata-v2`;
  const chosen = Deno.env.get("RTS_TEST_SHIM");
  const target = chosen
    ? `exec ${chosen} "$@"`
    : `exec ${Deno.execPath()} run -A --unstable-vsock --quiet --config ${REPO}/deno.json ` +
      `${REPO}/main.ts "$@"`;
  const exports = Object.entries(env).map(([k, v]) => `export ${k}='${v}'\n`).join("");
  await Deno.writeTextFile(path, `#!/bin/sh\n${exports}${target}\n`, { mode: 0o755 });
  return path;
}

/** Options of a private containerd. */
export interface ContainerdOptions {
  /** Extra lines appended to containerd's config.toml (e.g. a `[timeouts]` table). */
  extraConfig?: string[];
  /** Environment the shim launcher exports to our shim. */
  shimEnv?: Record<string, string>;
  /**
   * Turns the CRI plugin on (tests/cri/cri_env.ts): runtime handler `kata`
   * runs our shim with `cri.configPath`, pods get addresses from a private
   * bridge + host-local CNI network, and the busybox and pause images are
   * imported into the `k8s.io` namespace too.
   */
  cri?: CriOptions;
  /**
   * containerd finds `containerd-shim-kata-v2` on its own PATH (an installed
   * shim) instead of this harness's launcher first.
   */
  installedShim?: boolean;
  /** The containerd release to run (default {@link DEFAULT_CONTAINERD}). */
  version?: ContainerdVersion;
}

/** A private containerd. */
export class Containerd {
  readonly dir: string;
  readonly address: string;
  readonly shim: string;
  /** The containerd release running. */
  readonly version: ContainerdVersion;
  /** Its `ctr`, which must match the daemon's release. */
  readonly ctrBin: string;
  /** Its bin directory (containerd, ctr, containerd-shim-runc-v2). */
  readonly binDir: string;
  /** The CNI network of the CRI plugin (with `cri` only). */
  cni: CniNetwork | undefined;
  /** containerd 2.x's CRI sandboxer (`shim`: no pause container); undefined without CRI or on 1.x. */
  criSandboxer: CriOptions["sandboxer"];
  #proc: Deno.ChildProcess | undefined;
  #fifosBefore = new Set<string>();
  #launcherOnPath = true;
  /** The log as {@link stop} left it: a failure's evidence is read after the clean-up. */
  #finalLog: string | undefined;

  private constructor(dir: string, shim: string, version: ContainerdVersion) {
    this.dir = dir;
    this.address = `${dir}/containerd.sock`;
    this.shim = shim;
    this.version = version;
    this.binDir = containerdBinDir(version);
    this.ctrBin = `${this.binDir}/ctr`;
  }

  /** Starts containerd and imports the busybox image. */
  static async start(opts: ContainerdOptions = {}): Promise<Containerd> {
    const dir = await Deno.makeTempDir({ prefix: "rts-ctrd-" });
    const shim = await shimLauncher(dir, {
      ...(opts.cri ? criShimEnv(opts.cri) : {}),
      ...opts.shimEnv,
    });
    const version = opts.version ?? DEFAULT_CONTAINERD;
    const c = new Containerd(dir, shim, version);
    c.#launcherOnPath = !opts.installedShim;
    c.cni = opts.cri ? await writeCniConfig(dir) : undefined;
    c.criSandboxer = opts.cri && isContainerd2(version)
      ? opts.cri.sandboxer ?? "podsandbox"
      : undefined;
    const v2 = isContainerd2(version);
    await Deno.writeTextFile(
      `${dir}/config.toml`,
      [
        // containerd 2.x reads version 2 too, but only version 3 names its CRI plugins.
        `version = ${v2 ? 3 : 2}`,
        `root = "${dir}/root"`,
        `state = "${dir}/state"`,
        ...(opts.cri ? [] : [
          v2
            ? `disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", ` +
              `"io.containerd.cri.v1.images", "io.containerd.podsandbox.controller.v1.podsandbox"]`
            : `disabled_plugins = ["io.containerd.grpc.v1.cri"]`,
        ]),
        "[grpc]",
        `  address = "${c.address}"`,
        "[debug]",
        `  level = "debug"`,
        ...(opts.extraConfig ?? []),
        ...(opts.cri && c.cni ? criConfigLines(opts.cri, c.cni, version) : []),
        "",
      ].join("\n"),
    );
    try {
      await c.#launch();
      const tar = await busyboxImageTar();
      await c.ctrMust("image", "import", "--base-name", "example.local/busybox", tar);
      if (opts.cri) {
        const pause = await pauseImageTar(tar);
        await c.ctrMust(
          "-n",
          CRI_NAMESPACE,
          "image",
          "import",
          "--base-name",
          "example.local/busybox",
          tar,
        );
        await c.ctrMust(
          "-n",
          CRI_NAMESPACE,
          "image",
          "import",
          "--base-name",
          "example.local/pause",
          pause,
        );
      }
    } catch (err) {
      // Nothing of a containerd that never came up is left behind.
      try {
        c.#proc?.kill("SIGKILL");
      } catch {
        // already exited
      }
      await c.#proc?.status;
      c.#proc = undefined;
      await c.stop().catch(() => {});
      throw err;
    }
    c.#fifosBefore = await listDir(FIFO_DIR);
    return c;
  }

  async #launch(): Promise<void> {
    // containerd logs to stderr; the shell's redirection keeps it in a file for post-mortems.
    // The CRI plugin finds runtime_type io.containerd.kata.v2 as
    // containerd-shim-kata-v2 in PATH: the launcher's directory comes first,
    // then the release's own bin directory (its containerd-shim-runc-v2).
    this.#proc = new Deno.Command("/bin/sh", {
      env: {
        PATH: `${this.#launcherOnPath ? `${this.dir}:` : ""}${this.binDir}:${
          Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        }`,
      },
      args: [
        "-c",
        'exec "$2/containerd" --config "$1/config.toml" 2>>"$1/containerd.log"',
        "sh",
        this.dir,
        this.binDir,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    let exited = false;
    this.#proc.status.then(() => exited = true);
    for (let i = 0; i < 200; i++) {
      if (exited) throw new Error(`containerd exited at start; see ${this.dir}/containerd.log`);
      const r = await run(this.ctrBin, ["-a", this.address, "version"]);
      if (r.code === 0) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`containerd did not come up; see ${this.dir}/containerd.log`);
  }

  /** Stops containerd (SIGTERM) without cleaning up, for restart tests. */
  async stopDaemon(): Promise<void> {
    if (!this.#proc) return;
    this.#proc.kill("SIGTERM");
    await this.#proc.status;
    this.#proc = undefined;
  }

  /** Starts containerd again on the same root and state. */
  async restartDaemon(): Promise<void> {
    await this.stopDaemon();
    await this.#launch();
  }

  /** `ctr -a <sock> ...args`. */
  ctr(...args: string[]): Promise<RunResult> {
    return run(this.ctrBin, ["-a", this.address, ...args]);
  }

  /** `ctr` that must succeed; returns stdout. */
  async ctrMust(...args: string[]): Promise<string> {
    const r = await this.ctr(...args);
    if (r.code !== 0) {
      throw new Error(`ctr ${args.join(" ")} failed (${r.code}): ${r.stdout}${r.stderr}`);
    }
    return r.stdout;
  }

  /** Task `id`'s STATUS as `ctr task ls` lists it (RUNNING, STOPPED, ...); undefined when unlisted. */
  async taskStatus(id: string, ns = "default"): Promise<string | undefined> {
    const ls = await this.ctrMust("-n", ns, "task", "ls");
    return ls.split("\n").map((l) => l.trim().split(/\s+/)).find((f) => f[0] === id)?.[2];
  }

  /** The `ctr run` prefix for our shim with the linux_container configuration. */
  runArgs(): string[] {
    return ["run", "--runtime", this.shim, "--runtime-config-path", LINUX_CONTAINER_CONFIG];
  }

  /** The bundle directory containerd makes for a task. */
  bundle(id: string, namespace = "default"): string {
    return `${this.dir}/state/io.containerd.runtime.v2.task/${namespace}/${id}`;
  }

  /**
   * Asserts that nothing of container `id` is left: shim process, mounts,
   * FIFOs, runc state, `/run/kata/<id>`, the bundle. With `clientFifos`, FIFO
   * dirs that ctr made and could not remove itself (containerd dropped the task
   * after the shim died) are allowed once no process holds them, then removed.
   */
  async assertNoLeaks(id: string, opts: { clientFifos?: boolean } = {}): Promise<void> {
    // The shim exits shortly after Shutdown: give it a moment.
    let shims: string[] = [];
    for (let i = 0; i < 100; i++) {
      shims = await shimProcesses(id);
      if (shims.length === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert(shims.length === 0, `shim process left for ${id}: ${shims.join(", ")}`);
    const mounts = (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
      .filter((l) => l.includes(`/${id}/`) && l.includes(this.dir));
    assert(mounts.length === 0, `mounts left for ${id}: ${mounts.join("\n")}`);
    const fifos = [...await listDir(FIFO_DIR)].filter((f) => !this.#fifosBefore.has(f));
    if (opts.clientFifos) {
      const held = await openPathsUnder(FIFO_DIR);
      assert(held.length === 0, `FIFOs still open: ${held.join(", ")}`);
      for (const f of fifos) await Deno.remove(`${FIFO_DIR}/${f}`, { recursive: true });
    } else {
      assert(fifos.length === 0, `FIFO dirs left: ${fifos.join(", ")}`);
    }
    const runc = await run("runc", ["--root", RUNC_ROOT, "list", "-q"]);
    assert(!runc.stdout.split("\n").includes(id), `runc still knows container ${id}`);
    const state = await exists(`/run/kata/${id}`);
    assert(!state, `/run/kata/${id} left`);
    // containerd 2.x removes a dead shim's bundle in its own clean-up, which
    // may still run when `container rm` has returned: give it a moment.
    for (let i = 0; i < 50 && await exists(this.bundle(id)); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert(!(await exists(this.bundle(id))), `bundle ${this.bundle(id)} left`);
  }

  /** containerd's log so far (the shims' logs are copied into it). */
  log(): Promise<string> {
    if (this.#finalLog !== undefined) return Promise.resolve(this.#finalLog);
    return Deno.readTextFile(`${this.dir}/containerd.log`);
  }

  /** Stops containerd and removes everything it made. */
  async stop(): Promise<void> {
    for (const ns of this.cni ? ["default", CRI_NAMESPACE] : ["default"]) {
      const tasks = await this.ctr("-n", ns, "task", "ls", "-q");
      for (const id of tasks.stdout.split("\n").filter((s) => s)) {
        await this.ctr("-n", ns, "task", "kill", "-s", "SIGKILL", id);
        await this.ctr("-n", ns, "task", "rm", "-f", id);
      }
      const containers = await this.ctr("-n", ns, "container", "ls", "-q");
      for (const id of containers.stdout.split("\n").filter((s) => s)) {
        await this.ctr("-n", ns, "container", "rm", id);
      }
    }
    await this.stopDaemon();
    if (this.cni) await run("ip", ["link", "del", this.cni.bridge]);
    this.#finalLog = await Deno.readTextFile(`${this.dir}/containerd.log`).catch(() => undefined);
    // Mounts left below (a snapshot, a pod's shm) are unmounted and proven gone
    // before anything is removed; one that stays busy fails the stop, named,
    // instead of being lazily detached and deleted through.
    await removeTree(this.dir);
  }
}

/** Pids of shim servers (our binary) for `id`. */
export async function shimProcesses(id: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    let cmd = "";
    try {
      cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`);
    } catch {
      continue;
    }
    if (cmd.includes("main.ts") || cmd.includes("containerd-shim-kata-v2")) {
      if (cmd.includes(`\0-id\0${id}\0`)) out.push(e.name);
    }
  }
  return out;
}

/** Paths under `dir` that some process holds open (scans /proc/<pid>/fd). */
async function openPathsUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const p of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(p.name)) continue;
    try {
      for await (const fd of Deno.readDir(`/proc/${p.name}/fd`)) {
        const target = await Deno.readLink(`/proc/${p.name}/fd/${fd.name}`).catch(() => "");
        if (target.startsWith(dir + "/")) out.push(`${target} (pid ${p.name})`);
      }
    } catch {
      // process gone or not readable
    }
  }
  return out;
}

async function listDir(path: string): Promise<Set<string>> {
  const out = new Set<string>();
  try {
    for await (const e of Deno.readDir(path)) out.add(e.name);
  } catch {
    // absent
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}
