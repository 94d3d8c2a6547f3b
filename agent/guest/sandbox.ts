/**
 * The agent's state for the one sandbox a guest runs: its storages, hostname
 * and DNS, guest hooks, and its containers by id.
 * @module
 */
import type { Storage } from "../gen/agent_pb.ts";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import { GuestContainer } from "./container.ts";
import { adaptSpecForGuest, type OciSpec } from "./oci_spec.ts";
import { type PodNamespaceHolder, UnshareHolder } from "./pod_namespaces.ts";
import type { RuncConfig } from "./runc.ts";
import {
  applyPlan,
  type BlockResolver,
  type MountPlan,
  planStorage,
  resolvePciBlock,
  undoPlan,
} from "./storage.ts";

const log = getLogger("agent.guest.sandbox");

/** containerd's CRI annotation telling a pod's sandbox container from its other containers. */
const CRI_CONTAINER_TYPE = "io.kubernetes.cri.container-type";
/** CRI-O's equivalent of {@link CRI_CONTAINER_TYPE}. */
const CRIO_CONTAINER_TYPE = "io.kubernetes.cri-o.ContainerType";

/** Where the agent keeps container bundles. */
const BUNDLE_ROOT = "/run/kata-containers";

/** Paths and tools the sandbox uses (tests point them elsewhere). */
interface SandboxOptions {
  runc: RuncConfig;
  bundleRoot?: string;
  resolvConf?: string;
  cgroupRoot?: string;
  resolveBlock?: BlockResolver;
  /** Holds the namespaces of a pod without a sandbox container (default: `unshare`). */
  podNamespaces?: PodNamespaceHolder;
}

/** Sandbox-wide settings from CreateSandbox. */
interface SandboxSpec {
  id: string;
  hostname: string;
  dns: string[];
  storages: Storage[];
  guestHookPath: string;
  sandboxPidns: boolean;
}

/** The guest sandbox. */
export class GuestSandbox {
  #opts: SandboxOptions;
  #created = false;
  #id = "";
  #storages: MountPlan[] = [];
  #guestHooks: OciSpec | undefined;
  #containers = new Map<string, GuestContainer>();
  #oomCounts = new Map<string, number>();
  /** The pod's sandbox (pause) container, whose namespaces the others join. */
  #podSandboxId = "";
  #sandboxPidns = false;
  /** The namespaces of a pod without a sandbox container (containerd's Sandbox API). */
  readonly #podNs: PodNamespaceHolder;

  constructor(opts: SandboxOptions) {
    this.#opts = opts;
    this.#podNs = opts.podNamespaces ?? new UnshareHolder();
  }

  /** The sandbox id once created. */
  get id(): string {
    return this.#id;
  }

  #bundleRoot(): string {
    return this.#opts.bundleRoot ?? BUNDLE_ROOT;
  }

  async #mountAll(storages: Storage[]): Promise<MountPlan[]> {
    const done: MountPlan[] = [];
    try {
      for (const s of storages) {
        const plan = await planStorage(s, this.#opts.resolveBlock ?? ((p) => resolvePciBlock(p)));
        await applyPlan(plan);
        done.push(plan);
      }
      return done;
    } catch (err) {
      for (const plan of done.reverse()) await undoPlan(plan);
      throw err;
    }
  }

  /**
   * Sets up the sandbox: hostname, DNS, sandbox storages, guest hooks.
   * @throws {AlreadyExistsError} when created twice
   */
  async create(spec: SandboxSpec): Promise<void> {
    if (this.#created) throw new AlreadyExistsError(`Sandbox "${this.#id}" already exists`);
    this.#sandboxPidns = spec.sandboxPidns;
    if (spec.hostname) {
      const out = await new Deno.Command("hostname", { args: [spec.hostname], stderr: "piped" })
        .output().catch(() => undefined);
      if (!out?.success) log.warn("cannot set hostname {name}", { name: spec.hostname });
    }
    if (spec.dns.length > 0) {
      await Deno.writeTextFile(
        this.#opts.resolvConf ?? "/etc/resolv.conf",
        spec.dns.join("\n") + "\n",
      );
    }
    this.#storages = await this.#mountAll(spec.storages);
    this.#guestHooks = spec.guestHookPath ? await readGuestHooks(spec.guestHookPath) : undefined;
    this.#id = spec.id;
    this.#created = true;
  }

  /**
   * The container `id`.
   * @throws {NotFoundError} when there is none
   */
  container(id: string): GuestContainer {
    const c = this.#containers.get(id);
    if (!c) throw new NotFoundError(`Container "${id}" not found`);
    return c;
  }

  /** All containers. */
  containers(): GuestContainer[] {
    return [...this.#containers.values()];
  }

  /**
   * The namespaces a pod container joins: the IPC and UTS namespaces of the
   * pod's sandbox container (CRI annotation container-type=sandbox), and its
   * PID namespace with `sandboxPidns` (the pod's PID namespace option POD);
   * in a pod without a sandbox container (containerd's Sandbox API), those
   * the agent holds for the pod. None for the sandbox container itself or a
   * container outside a pod.
   * @throws {FailedPreconditionError} when the pod's sandbox container is not running
   */
  async #podNamespaces(
    id: string,
    spec: OciSpec,
    sandboxPidns: boolean,
  ): Promise<Record<string, string>> {
    const annotations = (spec.annotations ?? {}) as Record<string, string>;
    const type = annotations[CRI_CONTAINER_TYPE] ?? annotations[CRIO_CONTAINER_TYPE];
    if (type === "sandbox") {
      this.#podSandboxId = id;
      return {};
    }
    if (type !== "container") return {};
    let pid: number | undefined;
    if (!this.#podSandboxId) {
      pid = await this.#podNs.ensure();
    } else {
      const sb = this.#containers.get(this.#podSandboxId);
      pid = sb?.state === "running" ? sb.init.pid : undefined;
    }
    if (!pid) {
      throw new FailedPreconditionError(
        `Cannot create container "${id}": the pod's sandbox container "${this.#podSandboxId}" is not running`,
      );
    }
    const join: Record<string, string> = {
      ipc: `/proc/${pid}/ns/ipc`,
      uts: `/proc/${pid}/ns/uts`,
    };
    if (sandboxPidns || this.#sandboxPidns) join.pid = `/proc/${pid}/ns/pid`;
    return join;
  }

  /**
   * Creates a container from the shim's (converted) spec and its storages;
   * a pod's containers join its sandbox container's namespaces.
   * @throws {AlreadyExistsError} for a taken id
   * @throws {InvalidArgumentError} without a spec, process or root
   */
  async createContainer(
    id: string,
    spec: OciSpec,
    storages: Storage[],
    opts: { sandboxPidns?: boolean } = {},
  ): Promise<GuestContainer> {
    if (!id || id.includes("/") || id.startsWith(".")) {
      throw new InvalidArgumentError(`Invalid container id "${id}"`);
    }
    if (this.#containers.has(id)) throw new AlreadyExistsError(`Container "${id}" already exists`);
    if (!spec.process || !spec.root) {
      throw new InvalidArgumentError(
        `Cannot create container "${id}": the spec has no process or root`,
      );
    }
    const joinNamespaces = await this.#podNamespaces(id, spec, opts.sandboxPidns ?? false);
    const plans = await this.#mountAll(storages);
    try {
      const guestSpec = adaptSpecForGuest(spec, {
        containerId: id,
        guestHooks: this.#guestHooks,
        joinNamespaces,
      });
      const c = await GuestContainer.create(
        id,
        guestSpec,
        this.#bundleRoot(),
        this.#opts.runc,
        plans,
      );
      this.#containers.set(id, c);
      return c;
    } catch (err) {
      for (const plan of plans.reverse()) await undoPlan(plan);
      throw err;
    }
  }

  /** Removes container `id` (see {@link GuestContainer.remove}). */
  async removeContainer(id: string, timeoutSec: number): Promise<void> {
    const c = this.container(id);
    await c.remove(timeoutSec);
    this.#containers.delete(id);
    this.#oomCounts.delete(id);
    if (id === this.#podSandboxId) this.#podSandboxId = "";
  }

  /** Removes every container and undoes the sandbox storages. */
  async destroy(): Promise<void> {
    for (const id of [...this.#containers.keys()]) {
      await this.removeContainer(id, 0).catch((err) =>
        log.warn("container {id}: cannot remove: {error}", { id, error: String(err) })
      );
    }
    await this.#podNs.stop();
    for (const plan of this.#storages.reverse()) await undoPlan(plan);
    this.#storages = [];
    this.#created = false;
    this.#id = "";
  }

  /**
   * Waits for the next OOM kill in any container (cgroup v2 memory.events
   * `oom_kill` counters, polled); resolves with the container id.
   */
  async nextOomEvent(signal: AbortSignal, pollMs = 500): Promise<string> {
    const root = this.#opts.cgroupRoot ?? "/sys/fs/cgroup";
    while (!signal.aborted) {
      for (const c of this.#containers.values()) {
        if (!c.cgroupsPath) continue;
        const text = await Deno.readTextFile(`${root}${c.cgroupsPath}/memory.events`).catch(() =>
          ""
        );
        const m = text.match(/^oom_kill (\d+)$/m);
        if (!m) continue;
        const count = parseInt(m[1], 10);
        const seen = this.#oomCounts.get(c.id) ?? 0;
        this.#oomCounts.set(c.id, count);
        if (count > seen) return c.id;
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
    throw new FailedPreconditionError("OOM event wait cancelled");
  }
}

/**
 * Guest OCI hooks: executables under HOOKS/{prestart,poststart,poststop}
 * (kata-agent's guest_hook_path layout), each run with its path as argv[0].
 */
export async function readGuestHooks(dir: string): Promise<OciSpec | undefined> {
  const hooks: OciSpec = {};
  for (const kind of ["prestart", "poststart", "poststop"]) {
    const list: OciSpec[] = [];
    try {
      const names: string[] = [];
      for await (const e of Deno.readDir(`${dir}/${kind}`)) if (e.isFile) names.push(e.name);
      for (const n of names.sort()) {
        list.push({ path: `${dir}/${kind}/${n}`, args: [`${dir}/${kind}/${n}`] });
      }
    } catch {
      // no hooks of this kind
    }
    if (list.length > 0) hooks[kind] = list;
  }
  return Object.keys(hooks).length > 0 ? hooks : undefined;
}
