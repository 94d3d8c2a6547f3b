/**
 * The VirtContainer runtime: containers run inside a VM sandbox through the
 * Kata agent. The first Create of the shim (a plain `ctr run` container, or
 * a CRI pod's sandbox container) builds and starts the sandbox
 * ({@link VirtSandbox}); later CRI containers of that pod join it. Each
 * container gets its rootfs and volumes shared into the guest, then
 * CreateContainer/StartContainer, with stdio through ReadStdout/ReadStderr/
 * WriteStdin and the exit from WaitProcess. Deleting the sandbox container
 * (or Shutdown) ends the sandbox; a VM that dies ends every task with exit
 * status 255 and cleans up.
 * @module
 */
import { ConnectError } from "@connectrpc/connect";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnimplementedError,
} from "../../common/errors.ts";
import { exists } from "../../common/fs.ts";
import { getLogger } from "../../common/log.ts";
import type { LoadedConfig } from "../../config/load.ts";
import type { HypervisorConfig } from "../../config/schema.ts";
import type { Hypervisor, VmExit } from "../../hypervisor/hypervisor.ts";
import { createHypervisor } from "../../hypervisor/factory.ts";
import { StateStore } from "../../persist/state_store.ts";
import type { ContainerState } from "../../persist/state.ts";
import {
  cgroupHierarchies,
  SandboxCgroup,
  sandboxCgroupPath,
  usableHierarchies,
} from "../../resource/cgroups/sandbox_cgroup.ts";
import { staticVmSize, workloadSize } from "../../resource/cpu_mem/static_sizing.ts";
import { parseModel } from "../../resource/network/classify.ts";
import { NetworkResource } from "../../resource/network/network_resource.ts";
import {
  type AttachedRootfs,
  attachRootfs,
  detachRootfs,
  type RootfsMount,
} from "../../resource/rootfs/rootfs.ts";
import { SharedLayout } from "../../resource/share_fs/layout.ts";
import { chooseShareFs, ShareFs } from "../../resource/share_fs/share_fs.ts";
import { ContainerVolumes, type OciMount } from "../../resource/volume/volume.ts";
import type {
  ContainerStats,
  CreateContainerRequest,
  EventSink,
  ExecRequest,
  ExitStatus,
  ProcessInfo,
  ProcessStatus,
  RuntimeHandler,
} from "../handler.ts";
import { ContainerTable, createEvent, deleteEvent, exitEvent } from "../containers.ts";
import { stdioOf, TaskProcess } from "../process.ts";
import { type AgentApi, type AgentDialer, NO_DEADLINE } from "./agent_api.ts";
import { AgentIo } from "./agent_io.ts";
import { hooksOf, type OciHook, type OciState, runHooks } from "./hooks.ts";
import { agentStatsToMetrics } from "./metrics.ts";
import { toAgentProcess, toAgentResources, toAgentSpec } from "./oci_convert.ts";
import { type SandboxNetwork, type StartStep, VirtSandbox } from "./sandbox.ts";

const log = getLogger("runtimes.virt_container");

/** containerd CRI annotations telling a pod's sandbox container from its other containers. */
export const CRI_CONTAINER_TYPE = "io.kubernetes.cri.container-type";
export const CRI_SANDBOX_ID = "io.kubernetes.cri.sandbox-id";
/** CRI-O's equivalents. */
export const CRIO_CONTAINER_TYPE = "io.kubernetes.cri-o.ContainerType";
export const CRIO_SANDBOX_ID = "io.kubernetes.cri-o.SandboxID";

/** Exit status given to tasks whose VM died (what containerd shows for a lost task). */
export const VM_DEATH_EXIT_STATUS = 255;

/**
 * A process in the VM (its init or an exec). Its pid is the VMM's: guest pids
 * mean nothing on the host.
 */
type VirtProcess = TaskProcess<AgentIo>;

/** Options of {@link VirtContainerHandler}. */
export interface VirtContainerOptions {
  /** The loaded configuration (`[runtime] name = "virt_container"`). */
  config: LoadedConfig;
  /** Connects to the agent of a started VM. */
  dialAgent: AgentDialer;
  /** Receives task events in order. */
  events?: EventSink;
  /** Reloads the configuration with the sandbox's annotations applied (none: `config` as is). */
  reloadWithAnnotations?: (annotations: Record<string, string>) => Promise<LoadedConfig>;
  /** State store (default root `/run/kata` or `KATA_PERSIST_ROOT`). */
  store?: StateStore;
  /** Builds the VM driver (default `hypervisor/factory.ts`'s createHypervisor). */
  hypervisorFactory?: (name: string, config: HypervisorConfig, runRoot: string) => Hypervisor;
  /** Builds the pod network of a netns (default: `resource/network`'s NetworkResource). */
  networkFactory?: (netns: string, config: LoadedConfig) => SandboxNetwork;
  /** Builds the sandbox cgroup (default: a real one; `null` to skip). */
  cgroupFactory?: (path: string) => SandboxCgroup | null;
  /** Runs OCI hooks (tests record). */
  runHooks?: (hooks: readonly OciHook[], state: OciState, kind: string) => Promise<void>;
  /** Sleep used by retries (tests pass an instant one). */
  sleep?: (ms: number) => Promise<void>;
  /** Observes each sandbox start step (tests). */
  onStep?: (step: StartStep) => void;
  /** Tells block devices apart (tests). */
  isBlockDevice?: (path: string) => boolean;
}

class VirtContainer {
  readonly execs = new Map<string, VirtProcess>();
  /** Whether the guest has it (CreateContainer succeeded and no RemoveContainer yet). */
  inGuest = false;
  constructor(
    readonly id: string,
    readonly bundle: string,
    readonly init: VirtProcess,
    readonly rootfs: AttachedRootfs,
    readonly volumes: ContainerVolumes,
    readonly isSandbox: boolean,
    /** The container's OCI spec (its poststart/poststop hooks run on the host). */
    readonly spec: Record<string, unknown>,
  ) {}
}

/** Reads `<bundle>/config.json`. */
function readSpec(bundle: string): Record<string, unknown> {
  try {
    return JSON.parse(Deno.readTextFileSync(`${bundle}/config.json`));
  } catch (e) {
    throw new InvalidArgumentError(
      `Cannot read the OCI spec ${bundle}/config.json: ${(e as Error).message}`,
    );
  }
}

/** The container's role: sandbox (or standalone) vs. a container joining `sandboxId`. */
export function containerRole(
  id: string,
  annotations: Record<string, string>,
): { kind: "sandbox"; sandboxId: string } | { kind: "container"; sandboxId: string } {
  const type = annotations[CRI_CONTAINER_TYPE] ?? annotations[CRIO_CONTAINER_TYPE];
  const sid = annotations[CRI_SANDBOX_ID] ?? annotations[CRIO_SANDBOX_ID];
  if (type === "container") {
    if (!sid) {
      throw new InvalidArgumentError(
        `Container "${id}" is a pod container but names no sandbox (${CRI_SANDBOX_ID})`,
      );
    }
    return { kind: "container", sandboxId: sid };
  }
  return { kind: "sandbox", sandboxId: id };
}

/** The network namespace path of a spec, if it names one. */
export function netnsOf(spec: Record<string, unknown>): string | undefined {
  const linux = (spec.linux ?? {}) as { namespaces?: { type?: string; path?: string }[] };
  const ns = (linux.namespaces ?? []).find((n) => n.type === "network");
  return ns?.path || undefined;
}

/** DNS lines from the file mounted at /etc/resolv.conf, as runtime-rs reads them. */
export function dnsOf(spec: Record<string, unknown>): string[] {
  const mounts = (spec.mounts ?? []) as OciMount[];
  const m = mounts.find((x) => x.destination === "/etc/resolv.conf");
  if (!m?.source) return [];
  try {
    return Deno.readTextFileSync(m.source).split("\n").map((l) => l.trim()).filter((l) =>
      l && !l.startsWith("#")
    );
  } catch {
    return [];
  }
}

function isDeadAgentError(e: unknown): boolean {
  return e instanceof ConnectError && (e.code === 14 || e.code === 1);
}

/** Runs containers in a VM sandbox. */
export class VirtContainerHandler implements RuntimeHandler {
  readonly #o: VirtContainerOptions;
  readonly #events: EventSink;
  readonly #store: StateStore;
  readonly #containers = new ContainerTable<AgentIo, VirtContainer>();
  #sandbox: VirtSandbox | undefined;
  #config: LoadedConfig;
  #vmDead = false;

  constructor(opts: VirtContainerOptions) {
    if (opts.config.runtimeName !== "virt_container") {
      throw new InvalidArgumentError(
        `Configuration ${opts.config.file} is for runtime "${opts.config.runtimeName}", not virt_container`,
      );
    }
    this.#o = opts;
    this.#config = opts.config;
    this.#events = opts.events ?? (() => {});
    this.#store = opts.store ?? new StateStore();
  }

  /** The running sandbox, if any. */
  get sandbox(): VirtSandbox | undefined {
    return this.#sandbox;
  }

  #container(id: string): VirtContainer {
    return this.#containers.get(id);
  }

  #process(containerId: string, execId: string): VirtProcess {
    return this.#containers.process(containerId, execId);
  }

  #agent(what: string): AgentApi {
    const sb = this.#sandbox;
    if (!sb || sb.status !== "running") {
      throw new FailedPreconditionError(`Cannot ${what}: the sandbox VM is not running`);
    }
    return sb.agent;
  }

  #vmPid(): number {
    return this.#sandbox?.parts.hypervisor.pids()[0] ?? Deno.pid;
  }

  async createContainer(req: CreateContainerRequest): Promise<number> {
    this.#containers.checkNew(req.id);
    const spec = readSpec(req.bundle);
    const annotations = (spec.annotations ?? {}) as Record<string, string>;
    const role = containerRole(req.id, annotations);
    let startedSandbox = false;
    if (role.kind === "sandbox") {
      if (this.#sandbox) {
        throw new AlreadyExistsError(
          `Cannot create sandbox "${req.id}": this shim runs sandbox "${this.#sandbox.id}" already`,
        );
      }
      await this.#startSandbox(req, spec, annotations);
      startedSandbox = true;
    } else if (!this.#sandbox || this.#sandbox.id !== role.sandboxId) {
      throw new NotFoundError(
        `Cannot create container "${req.id}": sandbox "${role.sandboxId}" is not running in this shim`,
      );
    }
    try {
      return await this.#createInGuest(req, spec, role.kind === "sandbox");
    } catch (e) {
      if (startedSandbox) await this.#endSandbox();
      throw e;
    }
  }

  async #startSandbox(
    req: CreateContainerRequest,
    spec: Record<string, unknown>,
    annotations: Record<string, string>,
  ): Promise<void> {
    const o = this.#o;
    if (o.reloadWithAnnotations && Object.keys(annotations).length > 0) {
      this.#config = await o.reloadWithAnnotations(annotations);
    }
    const cfg = this.#config;
    if (!cfg.hypervisor || !cfg.hypervisorName || !cfg.agent) {
      throw new FailedPreconditionError(`Configuration ${cfg.file} selects no hypervisor or agent`);
    }
    const runtime = cfg.config.runtime;
    const hvConfig: HypervisorConfig = { ...cfg.hypervisor };
    if (runtime.static_sandbox_resource_mgmt) {
      const size = staticVmSize(
        { vcpus: hvConfig.default_vcpus || 1, memoryMib: hvConfig.default_memory || 2048 },
        workloadSize(spec),
        { vcpus: hvConfig.default_maxvcpus, memoryMib: hvConfig.default_maxmemory },
      );
      hvConfig.default_vcpus = size.vcpus;
      hvConfig.default_memory = size.memoryMib;
      log.info("static sizing of {id}: {vcpus} vCPUs, {mem} MiB", {
        id: req.id,
        vcpus: size.vcpus,
        mem: size.memoryMib,
      });
    }
    const runRoot = this.#store.root;
    const hv = (o.hypervisorFactory ?? ((n, c, r) => createHypervisor(n, c, { runRoot: r })))(
      cfg.hypervisorName,
      hvConfig,
      runRoot,
    );
    const layout = new SharedLayout(`${runRoot}/${req.id}`);
    const virtiofsd = hvConfig.virtio_fs_daemon;
    const shareKind = chooseShareFs(
      hvConfig.shared_fs,
      hv.capabilities().fsSharing,
      !!virtiofsd && exists(virtiofsd),
    );
    const shareFs = new ShareFs(layout, shareKind, {
      virtiofsd,
      cache: hvConfig.virtio_fs_cache,
      extraArgs: hvConfig.virtio_fs_extra_args,
      cacheSizeMib: hvConfig.virtio_fs_is_dax ? hvConfig.virtio_fs_cache_size : 0,
    });
    const netns = runtime.disable_new_netns ? undefined : netnsOf(spec);
    const network = netns ? (o.networkFactory ?? defaultNetwork)(netns, cfg) : undefined;
    const cgPath = sandboxCgroupPath(
      req.id,
      ((spec.linux ?? {}) as { cgroupsPath?: string }).cgroupsPath,
      runtime.sandbox_cgroup_only,
    );
    const cgroup = o.cgroupFactory ? o.cgroupFactory(cgPath) : defaultCgroup(cgPath);
    const agentCfg = cfg.agent;
    const sandbox = new VirtSandbox({
      id: req.id,
      bundle: req.bundle,
      spec,
      netnsPath: netns,
      annotations,
      hostname: String(spec.hostname ?? ""),
      dns: dnsOf(spec),
      hypervisor: hv,
      shareFs,
      network,
      cgroup: cgroup ?? undefined,
      dialAgent: o.dialAgent,
      store: this.#store,
      agent: {
        dialTimeoutMs: agentCfg.dial_timeout_ms,
        reconnectTimeoutMs: agentCfg.reconnect_timeout_ms,
        healthCheckTimeoutMs: agentCfg.health_check_request_timeout_ms,
        kernelModules: agentCfg.kernel_modules,
      },
      guestHookPath: hvConfig.guest_hook_path,
      runHooks: o.runHooks,
      sleep: o.sleep,
      onStep: o.onStep,
    }, {
      onVmExit: (exit) => this.#onVmDeath(exit),
      onOom: (cid) => {
        if (this.#containers.has(cid)) this.#events({ topic: "/tasks/oom", containerId: cid });
      },
    });
    this.#vmDead = false;
    this.#sandbox = sandbox;
    try {
      await sandbox.start();
    } catch (e) {
      this.#sandbox = undefined;
      throw e;
    }
  }

  async #createInGuest(
    req: CreateContainerRequest,
    spec: Record<string, unknown>,
    isSandbox: boolean,
  ): Promise<number> {
    const sb = this.#sandbox!;
    const agent = this.#agent(`create container "${req.id}"`);
    const hv = sb.parts.hypervisor;
    const layout = sb.parts.shareFs.layout;
    const blockDriver = blockDriverOf(hv.kind, this.#config.hypervisor?.block_device_driver ?? "");
    const rootfs = await attachRootfs({
      cid: req.id,
      mounts: req.rootfs.map((m): RootfsMount => ({
        type: m.type,
        source: m.source,
        options: m.options,
      })),
      bundle: req.bundle,
      specRootPath: String(((spec.root ?? {}) as { path?: string }).path ?? "rootfs"),
      layout,
      shared: sb.parts.shareFs.shared,
      blockDevices: hv.capabilities().blockDevice,
      blockDriver,
      devices: sb.devices,
      isBlockDevice: this.#o.isBlockDevice,
    });
    const volumes = new ContainerVolumes(req.id, layout, sb.parts.shareFs.shared);
    const init = new TaskProcess<AgentIo>(req.id, "", stdioOf(req));
    const c = new VirtContainer(req.id, req.bundle, init, rootfs, volumes, isSandbox, spec);
    const devices = ((spec.linux ?? {}) as { devices?: unknown[] }).devices ?? [];
    if (devices.length > 0) {
      log.warn(
        "container {cid}: {n} host device node(s) in linux.devices are not passed to the VM",
        {
          cid: req.id,
          n: devices.length,
        },
      );
    }
    try {
      const mounts = await volumes.prepare(
        (spec.mounts ?? []) as OciMount[],
        (chunk) => agent.copyFile(chunk),
      );
      const oci = toAgentSpec(spec, {
        guestRootPath: rootfs.guestPath,
        mounts: mounts as unknown as Record<string, unknown>[],
        disableGuestSeccomp: this.#config.config.runtime.disable_guest_seccomp,
      });
      const timeoutMs = (this.#config.agent?.create_container_timeout ?? 30) * 1000;
      await agent.createContainer({
        containerId: req.id,
        execId: "",
        OCI: oci,
        storages: rootfs.storages,
        sandboxPidns: false,
      }, { timeoutMs });
      c.inGuest = true;
      init.pid = this.#vmPid();
      init.io = await AgentIo.open(agent, req.id, "", init.stdio);
    } catch (e) {
      init.io?.close();
      if (c.inGuest) {
        await agent.removeContainer({ containerId: req.id, timeout: 0 }).catch(() => {});
      }
      await this.#releaseResources(c).catch(() => {});
      throw e;
    }
    this.#containers.add(c);
    this.#events(createEvent(req, init));
    await this.#save();
    return init.pid;
  }

  async #releaseResources(c: VirtContainer): Promise<void> {
    c.volumes.release();
    const sb = this.#sandbox;
    if (!sb) return;
    await detachRootfs(
      c.rootfs,
      sb.parts.shareFs.layout,
      sb.devices,
      this.#vmDead || sb.status !== "running",
    );
  }

  /** Waits for a process's exit through WaitProcess, then reports it once its output drained. */
  #watchExit(c: VirtContainer, p: VirtProcess, agent: AgentApi): void {
    (async () => {
      let status: number;
      try {
        const r = await agent.waitProcess({ containerId: c.id, execId: p.execId }, NO_DEADLINE);
        status = r.status;
      } catch (e) {
        if (p.exited) return;
        if (!isDeadAgentError(e)) {
          log.warn("WaitProcess of {cid}/{eid} failed: {e}", {
            cid: c.id,
            eid: p.execId,
            e: String(e),
          });
        }
        status = VM_DEATH_EXIT_STATUS;
      }
      await p.started;
      await p.io?.drained();
      this.#exited(c, p, { pid: p.pid, exitStatus: status, exitedAt: new Date() });
    })();
  }

  #exited(c: VirtContainer, p: VirtProcess, exit: ExitStatus): void {
    if (p.lifecycle.state === "deleted" || !p.setExited(exit)) return;
    this.#events(exitEvent(c.id, p, exit));
    this.#save().catch(() => {});
  }

  async start(containerId: string, execId: string): Promise<number> {
    const c = this.#container(containerId);
    const p = this.#process(containerId, execId);
    p.lifecycle.require("start");
    const agent = this.#agent(`start ${p.lifecycle.what}`);
    return await p.starting(async () => {
      if (!execId) {
        await agent.startContainer({ containerId });
        p.lifecycle.moveTo("running");
        this.#watchExit(c, p, agent);
        this.#events({ topic: "/tasks/start", containerId, pid: p.pid });
        await this.#postHooks(c, "poststart", "running");
      } else {
        c.init.lifecycle.require("exec");
        await agent.execProcess({
          containerId,
          execId,
          process: toAgentProcess(p.spec ?? {}),
        });
        p.pid = this.#vmPid();
        p.io = await AgentIo.open(agent, containerId, execId, p.stdio);
        p.lifecycle.moveTo("running");
        this.#watchExit(c, p, agent);
        this.#events({ topic: "/tasks/exec-started", containerId, execId, pid: p.pid });
      }
      await this.#save();
      return p.pid;
    });
  }

  exec(req: ExecRequest): Promise<void> {
    this.#events(this.#containers.addExec(req));
    return Promise.resolve();
  }

  async kill(containerId: string, execId: string, signal: number, all: boolean): Promise<void> {
    const p = this.#process(containerId, execId);
    p.requireSignal();
    if (this.#vmDead) {
      throw new NotFoundError(`cannot signal ${p.lifecycle.what}: its VM is gone`);
    }
    if (all && execId) {
      throw new InvalidArgumentError(`cannot signal all processes of an exec ("${execId}")`);
    }
    const agent = this.#agent(`signal ${p.lifecycle.what}`);
    await agent.signalProcess({ containerId, execId, signal });
  }

  wait(containerId: string, execId: string): Promise<ExitStatus> {
    return this.#process(containerId, execId).wait();
  }

  state(containerId: string, execId: string): Promise<ProcessStatus> {
    return Promise.resolve(this.#containers.status(containerId, execId));
  }

  pids(containerId: string): Promise<ProcessInfo[]> {
    const c = this.#container(containerId);
    // Guest pids are not host pids: containerd is shown the VMM pid per process, as Kata does.
    const out: ProcessInfo[] = [];
    if (c.init.pid && !c.init.exited) out.push({ pid: c.init.pid });
    for (const [id, p] of c.execs) if (p.pid && !p.exited) out.push({ pid: p.pid, execId: id });
    return Promise.resolve(out);
  }

  async pause(containerId: string): Promise<void> {
    this.#events(
      await this.#containers.pause(
        containerId,
        () => this.#agent(`pause container "${containerId}"`).pauseContainer({ containerId }),
      ),
    );
    await this.#save();
  }

  async resume(containerId: string): Promise<void> {
    this.#events(
      await this.#containers.resume(
        containerId,
        () => this.#agent(`resume container "${containerId}"`).resumeContainer({ containerId }),
      ),
    );
    await this.#save();
  }

  async update(containerId: string, resources: Record<string, unknown>): Promise<void> {
    const c = this.#container(containerId);
    c.init.lifecycle.require("update");
    await this.#agent(`update container "${containerId}"`).updateContainer({
      containerId,
      resources: toAgentResources(resources),
    });
  }

  async stats(containerId: string): Promise<ContainerStats> {
    const c = this.#container(containerId);
    if (c.init.lifecycle.state === "stopped" || c.init.lifecycle.state === "deleted") {
      throw new FailedPreconditionError(
        `cannot read the stats of container "${containerId}": it is ${c.init.lifecycle.state}`,
      );
    }
    const r = await this.#agent(`read the stats of container "${containerId}"`)
      .statsContainer({ containerId });
    return agentStatsToMetrics(r);
  }

  async resizePty(
    containerId: string,
    execId: string,
    width: number,
    height: number,
  ): Promise<void> {
    const p = this.#process(containerId, execId);
    p.requireResize();
    if (p.lifecycle.state === "created" && execId) return; // no guest process yet
    await this.#agent(`resize the terminal of ${p.lifecycle.what}`).ttyWinResize({
      containerId,
      execId,
      row: height,
      column: width,
    });
  }

  async closeIo(containerId: string, execId: string): Promise<void> {
    const p = this.#process(containerId, execId);
    p.lifecycle.require("closeIo");
    await p.io?.closeStdin();
  }

  async delete(containerId: string, execId: string): Promise<ExitStatus> {
    const c = this.#container(containerId);
    const p = this.#process(containerId, execId);
    p.lifecycle.require("delete");
    if (execId) {
      const exit = this.#containers.deleteExec(c, p);
      await this.#save();
      return exit;
    }
    const sb = this.#sandbox;
    if (c.inGuest && sb?.status === "running" && !this.#vmDead) {
      const agent = sb.agent;
      if (p.lifecycle.state === "created") {
        // Never started: the guest process waits for StartContainer; kill it so it is reaped.
        await agent.signalProcess({ containerId, execId: "", signal: 9 }).catch(() => {});
      }
      await agent.removeContainer({ containerId, timeout: 0 }).catch((e) =>
        log.warn("RemoveContainer {cid}: {e}", { cid: containerId, e: String(e) })
      );
      c.inGuest = false;
    }
    for (const e of c.execs.values()) e.io?.close();
    c.init.io?.close();
    const errors: unknown[] = [];
    await this.#releaseResources(c).catch((e) => errors.push(e));
    this.#containers.remove(containerId);
    if (!p.exited) p.setExited({ pid: p.pid, exitStatus: 0, exitedAt: new Date() });
    p.lifecycle.moveTo("deleted");
    const exit = p.exit!;
    this.#events(deleteEvent(containerId, exit));
    await this.#postHooks(c, "poststop", "stopped");
    if (c.isSandbox) await this.#endSandbox().catch((e) => errors.push(e));
    else await this.#save().catch(() => {});
    if (errors.length > 0) {
      log.warn("cleanup of container {cid}: {e}", { cid: containerId, e: String(errors[0]) });
    }
    return exit;
  }

  /** Runs poststart/poststop hooks on the host; their failures are logged only, as the OCI spec says. */
  async #postHooks(c: VirtContainer, kind: "poststart" | "poststop", status: OciState["status"]) {
    const hooks = hooksOf(c.spec, kind);
    if (hooks.length === 0) return;
    const state: OciState = {
      ociVersion: String(c.spec.ociVersion ?? "1.0.2"),
      id: c.id,
      status,
      pid: c.init.pid,
      bundle: c.bundle,
      annotations: (c.spec.annotations ?? {}) as Record<string, string>,
    };
    try {
      await (this.#o.runHooks ?? runHooks)(hooks, state, kind);
    } catch (e) {
      log.warn("{kind} hook of {cid} failed: {e}", { kind, cid: c.id, e: String(e) });
    }
  }

  /** The VM died: every live process exits with 255, then everything is cleaned up. */
  #onVmDeath(exit: VmExit): void {
    this.#vmDead = true;
    log.error("the VM of sandbox {id} died (code {code}, signal {signal}); ending its tasks", {
      id: this.#sandbox?.id,
      code: exit.code,
      signal: exit.signal,
    });
    const now = new Date();
    for (const c of this.#containers.values()) {
      for (const p of [c.init, ...c.execs.values()]) {
        p.io?.close();
        if (p.lifecycle.state === "created" && p.execId) continue;
        this.#exited(c, p, { pid: p.pid, exitStatus: VM_DEATH_EXIT_STATUS, exitedAt: now });
      }
    }
    (async () => {
      for (const c of this.#containers.values()) {
        c.inGuest = false;
        await this.#releaseResources(c).catch((e) =>
          log.warn("cleanup of {cid} after VM death: {e}", { cid: c.id, e: String(e) })
        );
      }
      await this.#endSandbox().catch((e) =>
        log.warn("cleanup of the sandbox after VM death: {e}", { e: String(e) })
      );
    })();
  }

  async #endSandbox(): Promise<void> {
    const sb = this.#sandbox;
    if (!sb) return;
    await sb.stop();
  }

  async #save(): Promise<void> {
    const sb = this.#sandbox;
    if (!sb || sb.status !== "running") return;
    const status = (p: VirtProcess): ContainerState["status"] =>
      p.lifecycle.state === "deleted" ? "stopped" : p.lifecycle.state;
    await sb.save([...this.#containers.values()].map((c) => ({
      id: c.id,
      bundle: c.bundle,
      pid: c.init.pid || null,
      status: status(c.init),
      exit_status: c.init.exit?.exitStatus ?? null,
      execs: [...c.execs.values()].map((e) => ({
        id: e.execId,
        pid: e.pid || null,
        status: status(e),
        exit_status: e.exit?.exitStatus ?? null,
        extra: {},
      })),
      created_at: new Date().toISOString(),
      extra: {
        rootfs: { guest_path: c.rootfs.guestPath, host_path: c.rootfs.hostPath ?? null },
        sandbox_container: c.isSandbox,
      },
    })));
  }

  taskPid(containerId: string): number {
    return this.#containers.taskPid(containerId);
  }

  containerIds(): string[] {
    return this.#containers.ids();
  }

  async shutdown(): Promise<void> {
    for (const c of [...this.#containers.values()]) {
      for (const p of [c.init, ...c.execs.values()]) p.io?.close();
      await this.#releaseResources(c).catch((e) =>
        log.warn("cleanup of {cid}: {e}", { cid: c.id, e: String(e) })
      );
      this.#containers.remove(c.id);
    }
    await this.#endSandbox();
    this.#sandbox = undefined;
  }
}

/** The agent's block driver name for a VMM's disks. */
export function blockDriverOf(kind: Hypervisor["kind"], blockDeviceDriver: string): string {
  if (kind === "firecracker" || kind === "dragonball") return "mmioblk";
  if (blockDeviceDriver === "virtio-scsi") return "scsi";
  if (kind === "qemu") return "blk";
  throw new UnimplementedError(`Block devices on ${kind} are not supported`);
}

function defaultNetwork(netns: string, cfg: LoadedConfig): SandboxNetwork {
  return new NetworkResource(netns, {
    model: parseModel(cfg.config.runtime.internetworking_model || "tcfilter"),
    queues: cfg.hypervisor?.network_queues || 1,
  });
}

function defaultCgroup(path: string): SandboxCgroup | null {
  const hierarchies = usableHierarchies(cgroupHierarchies());
  if (hierarchies.length === 0) {
    log.warn("no cgroup hierarchy is mounted: the VMM runs without a sandbox cgroup");
    return null;
  }
  return new SandboxCgroup(path, hierarchies);
}
