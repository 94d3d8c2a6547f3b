/**
 * A pod of the linux-container runtime under containerd 2.x's Sandbox API
 * (`sandboxer = "shim"`): no pause container; CreateSandbox makes the pod's
 * directory (`<root>/<pod id>/`: state.json, hostname, hosts, resolv.conf,
 * the /dev/shm tmpfs), StartSandbox spawns the namespace holder
 * (ns_holder.ts) whose pid CRI hands to every app container, and the end
 * (StopSandbox, ShutdownSandbox, or `shim delete` after a lost shim through
 * pod_state.ts) kills exactly that holder and removes the pod's files.
 * @module
 */
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  UnimplementedError,
} from "../../common/errors.ts";
import { readV1, readV2 } from "../../resource/cgroups/stats.ts";
import { identify, killIdentified, type ProcessIdentity } from "../../persist/process_identity.ts";
import { removeTreeSafely, type StateStore } from "../../persist/mod.ts";
import type { ContainerStats, ExitStatus } from "../handler.ts";
import type { CreateSandboxRequest, PodConfig, PodSandboxStatus } from "../pod_sandbox.ts";
import type { Reaper } from "../reaper.ts";
import { type SelfCommand, spawnHolder, waitReady } from "./ns_holder.ts";
import { CRI_SANDBOX_ID, makePodFiles, podContainerSpec, podHasShm } from "./pod_files.ts";
import { writePodState } from "./pod_state.ts";

/** What a pod needs from its handler. */
export interface LinuxPodDeps {
  store: StateStore;
  reaper: Reaper;
  /** How to run the shim's binary (the holder); undefined outside a shim. */
  self: SelfCommand | undefined;
  /** Kills every process of the pod's containers (they stay, for Task Delete). */
  killContainers: () => Promise<void>;
}

/** How long a new holder may take to start (a busy node starts Deno slowly). */
const HOLDER_READY_MS = 30_000;

/** The cgroup v1 controllers whose statistics SandboxMetrics reports. */
const V1_CONTROLLERS = ["cpu", "cpuacct", "memory", "pids", "blkio", "hugetlb"];

/** One pod and its namespace holder. */
export class LinuxPod {
  #state: PodSandboxStatus["state"] = "created";
  #holder: ProcessIdentity | undefined;
  #createdAt: Date | undefined;
  #exit: ExitStatus | undefined;
  /** The pod's containers not deleted yet (recorded for a lost shim's clean-up). */
  readonly #containers = new Set<string>();
  #resolveExit!: (e: ExitStatus) => void;
  readonly #exited = new Promise<ExitStatus>((r) => (this.#resolveExit = r));

  private constructor(
    readonly id: string,
    readonly dir: string,
    readonly netns: string,
    readonly pod: PodConfig,
    readonly deps: LinuxPodDeps,
  ) {}

  /** CreateSandbox: the pod's directory, record and shared files; nothing runs yet. */
  static async create(req: CreateSandboxRequest, deps: LinuxPodDeps): Promise<LinuxPod> {
    const onNode = req.pod.namespaces.network === "NODE";
    if (!onNode && !req.netnsPath) {
      throw new InvalidArgumentError(
        `Sandbox "${req.id}": a pod on its own network needs a network namespace path`,
      );
    }
    const dir = deps.store.dirOf(req.id);
    if (await deps.store.exists(req.id)) {
      throw new AlreadyExistsError(`Sandbox "${req.id}" exists already (${dir})`);
    }
    Deno.mkdirSync(dir, { recursive: true, mode: 0o711 });
    try {
      // Recorded before anything is mounted: a lost shim's clean-up finds the pod.
      await writePodState(deps.store, { id: req.id, holder: null, containers: [] });
      makePodFiles(dir, req.pod);
    } catch (e) {
      removeTreeSafely(dir);
      throw e;
    }
    return new LinuxPod(req.id, dir, onNode ? "" : req.netnsPath, req.pod, deps);
  }

  /** StartSandbox: spawns the holder; its pid is the one CRI's containers join. */
  async start(): Promise<{ pid: number; createdAt: Date }> {
    if (this.#state !== "created") {
      throw new FailedPreconditionError(`Cannot start sandbox "${this.id}": it is ${this.#state}`);
    }
    if (!this.deps.self) {
      throw new UnimplementedError(
        `Cannot start sandbox "${this.id}": a pod's namespace holder runs only inside the shim`,
      );
    }
    const onNode = this.netns === "";
    const readyFile = `${this.dir}/holder.ready`;
    const pid = spawnHolder(this.deps.self, {
      netns: this.netns,
      // A pod on the node's network has the node's UTS namespace too (CRI's rule).
      hostname: onNode ? undefined : this.pod.hostname || Deno.hostname(),
      newIpc: this.pod.namespaces.ipc !== "NODE",
      newPid: this.pod.namespaces.pid === "POD",
    }, readyFile);
    const exited = this.deps.reaper.watch(pid).then((info) =>
      this.#ended({ pid, exitStatus: info.status, exitedAt: new Date() })
    );
    const holder = identify(pid);
    try {
      if (!holder) throw new InternalError(`Namespace holder of sandbox "${this.id}" died at once`);
      await writePodState(this.deps.store, { id: this.id, holder, containers: [] });
      const ready = await waitReady(readyFile, exited, HOLDER_READY_MS);
      if (ready !== "ready") {
        throw new InternalError(
          `Namespace holder of sandbox "${this.id}" (pid ${pid}) ${
            ready === "exited"
              ? `exited with status ${this.#exit?.exitStatus} before it was ready`
              : `was not ready after ${HOLDER_READY_MS / 1000} s`
          }`,
        );
      }
    } catch (e) {
      if (holder) await killIdentified(holder, "SIGKILL");
      await exited;
      throw e;
    }
    this.#holder = holder;
    this.#createdAt = new Date();
    this.#state = "ready";
    return { pid, createdAt: this.#createdAt };
  }

  #ended(exit: ExitStatus): void {
    this.#state = "notready";
    this.#exit ??= exit;
    this.#resolveExit(this.#exit);
  }

  /** StopSandbox: the containers' processes, then the holder; resolves once it is gone. */
  async stop(): Promise<void> {
    await this.deps.killContainers();
    if (this.#state === "created") {
      this.#ended({ pid: 0, exitStatus: 0, exitedAt: new Date() });
      return;
    }
    if (this.#holder && this.#state === "ready") {
      await killIdentified(this.#holder, "SIGKILL");
      await this.#exited;
    }
  }

  /** WaitSandbox: the holder's exit (or the stop of a pod never started). */
  wait(): Promise<ExitStatus> {
    return this.#exited;
  }

  status(verbose: boolean): PodSandboxStatus {
    const info: Record<string, string> = {};
    if (verbose) {
      info.netns = this.netns || "node";
      info.hostname = this.pod.hostname;
      info.pidMode = this.pod.namespaces.pid;
      info.dir = this.dir;
    }
    return {
      pid: this.#holder?.pid ?? 0,
      state: this.#state,
      createdAt: this.#createdAt,
      exitedAt: this.#exit?.exitedAt,
      info,
    };
  }

  /** SandboxMetrics: the statistics of the pod's cgroup (CRI's cgroup_parent). */
  metrics(cgroupRoot = "/sys/fs/cgroup"): ContainerStats {
    const parent = this.pod.cgroupParent;
    if (!parent) {
      throw new FailedPreconditionError(`Sandbox "${this.id}" has no cgroup parent to measure`);
    }
    if (parent.endsWith(".slice") || parent.includes("..")) {
      throw new UnimplementedError(
        `Sandbox "${this.id}": metrics of cgroup parent "${parent}" (a systemd slice or a ` +
          `relative path) are not supported`,
      );
    }
    const path = parent.startsWith("/") ? parent : `/${parent}`;
    const isDir = (p: string) => {
      try {
        return Deno.statSync(p).isDirectory;
      } catch {
        return false;
      }
    };
    // The unified hierarchy has cgroup.controllers at its root; v1 a directory per controller.
    const unified = isDir(cgroupRoot) && !isDir(`${cgroupRoot}/memory`);
    const probe = unified ? `${cgroupRoot}${path}` : `${cgroupRoot}/memory${path}`;
    if (!isDir(probe)) {
      throw new NotFoundError(`Sandbox "${this.id}": cgroup ${path} does not exist (${probe})`);
    }
    if (unified) return { version: 2, metrics: readV2(probe) };
    return {
      version: 1,
      metrics: readV1(new Map(V1_CONTROLLERS.map((c) => [c, path])), cgroupRoot),
    };
  }

  /** ShutdownSandbox: stops what runs, then unmounts and removes the pod's files. */
  async shutdown(): Promise<void> {
    if (this.#state !== "notready") await this.stop();
    removeTreeSafely(this.dir);
  }

  /**
   * Records (`member` true, before the container is made) or forgets (after
   * it is deleted) container `id` of this pod in the pod's record.
   */
  async track(id: string, member: boolean): Promise<void> {
    if (member === this.#containers.has(id)) return;
    if (member) this.#containers.add(id);
    else this.#containers.delete(id);
    await writePodState(this.deps.store, {
      id: this.id,
      holder: this.#holder ?? null,
      containers: [...this.#containers],
    });
  }

  /**
   * The bundle the OCI runtime gets for a container whose containerd bundle
   * is `bundle`: for a container of this pod, a private one in `dir` with the
   * pod's shared files (pod_files.ts); otherwise `bundle` itself.
   */
  bundleFor(bundle: string, dir: string): string {
    const spec = JSON.parse(Deno.readTextFileSync(`${bundle}/config.json`));
    if (spec?.annotations?.[CRI_SANDBOX_ID] !== this.id) return bundle;
    if (this.#state !== "ready") {
      throw new FailedPreconditionError(
        `Cannot create a container in sandbox "${this.id}": it is ${this.#state}`,
      );
    }
    const own = `${dir}/bundle`;
    Deno.mkdirSync(own, { mode: 0o700 });
    const out = podContainerSpec(spec, bundle, this.dir, podHasShm(this.pod));
    Deno.writeTextFileSync(`${own}/config.json`, JSON.stringify(out));
    return own;
  }
}
