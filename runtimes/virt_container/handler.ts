/**
 * The VirtContainer runtime: containers run inside a VM sandbox through the
 * Kata agent. The first Create of the shim (a plain `ctr run` container, or
 * a CRI pod's sandbox container) builds and starts the sandbox
 * ({@link VirtSandbox}), or, under containerd's Sandbox API, StartSandbox
 * does (pod_sandbox.ts); later CRI containers of that pod join it. Each
 * container gets its rootfs and volumes shared into the guest, then
 * CreateContainer/StartContainer, with stdio through ReadStdout/ReadStderr/
 * WriteStdin and the exit from WaitProcess. Deleting the sandbox container
 * (or Shutdown) ends the sandbox; a VM that dies ends every task with exit
 * status 255 and cleans up.
 * @module
 */
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import type { LoadedConfig } from "../../config/load.ts";
import type { VmExit } from "../../hypervisor/hypervisor.ts";
import { StateStore } from "../../persist/state_store.ts";
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
import type { AgentApi } from "./agent_api.ts";
import { AgentIo } from "./agent_io.ts";
import {
  attachContainer,
  createInGuest,
  releaseContainer,
  runPostHooks,
  type VirtContainer,
  type VirtProcess,
} from "./container.ts";
import { containerRole } from "./cri.ts";
import { VM_DEATH_EXIT_STATUS, waitExitStatus } from "./exit_wait.ts";
import { agentStatsToMetrics } from "./metrics.ts";
import { toAgentProcess, toAgentResources } from "./oci_convert.ts";
import type { VirtContainerOptions } from "./options.ts";
import type { VirtSandbox } from "./sandbox.ts";
import { buildSandbox, type SandboxRequest } from "./sandbox_build.ts";
import { VirtPod } from "./pod_sandbox.ts";
import { containerStates } from "./state_map.ts";
import { readSpec } from "./spec.ts";

export type { VirtContainerOptions, VirtContainerTestHooks } from "./options.ts";

const log = getLogger("runtimes.virt_container");

/** Runs containers in a VM sandbox. */
export class VirtContainerHandler implements RuntimeHandler {
  readonly #o: VirtContainerOptions;
  readonly #events: EventSink;
  readonly #store: StateStore;
  readonly #containers = new ContainerTable<AgentIo, VirtContainer>();
  #sandbox: VirtSandbox | undefined;
  #config: LoadedConfig;
  #vmDead = false;
  /** The end of the VM under way (a VM death's clean-up, StopSandbox). */
  #ending: Promise<void> | undefined;
  /** The pod of containerd's Sandbox API, if this shim serves one. */
  readonly #pod: VirtPod;

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
    this.#pod = new VirtPod({
      sandbox: () => this.#sandbox,
      boot: (req) => this.#startSandbox(req),
      end: () => this.#endVm(),
    }, { readMetrics: opts.testHooks?.readMetrics });
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
      this.#pod.admitSandboxContainer(req.id, spec, annotations);
      await this.#startSandbox({ id: req.id, bundle: req.bundle, spec, annotations });
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

  async #startSandbox(req: SandboxRequest): Promise<void> {
    const o = this.#o;
    if (o.reloadWithAnnotations && Object.keys(req.annotations).length > 0) {
      this.#config = await o.reloadWithAnnotations(req.annotations);
    }
    const sandbox = buildSandbox(req, this.#config, o, this.#store, {
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
    const c = await attachContainer(sb, req, spec, isSandbox, this.#o.testHooks?.isBlockDevice);
    const { init } = c;
    try {
      await createInGuest(agent, c, {
        disableGuestSeccomp: this.#config.config.runtime.disable_guest_seccomp,
        timeoutMs: (this.#config.agent?.create_container_timeout ?? 30) * 1000,
      });
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
    const sb = this.#sandbox;
    await releaseContainer(c, sb, this.#vmDead || sb?.status !== "running");
  }

  /** Waits for a process's exit through WaitProcess, then reports it once its output drained. */
  #watchExit(c: VirtContainer, p: VirtProcess, agent: AgentApi): void {
    (async () => {
      const status = await waitExitStatus(agent, c.id, p);
      if (status === undefined) return;
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
        await runPostHooks(c, "poststart", "running", this.#o.testHooks?.runHooks);
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
      throw new NotFoundError(`Cannot signal ${p.lifecycle.what}: its VM is gone`);
    }
    if (all && execId) {
      throw new InvalidArgumentError(`Cannot signal all processes of an exec ("${execId}")`);
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
        `Cannot read the stats of container "${containerId}": it is ${c.init.lifecycle.state}`,
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
    await runPostHooks(c, "poststop", "stopped", this.#o.testHooks?.runHooks);
    if (c.isSandbox) await this.#endSandbox().catch((e) => errors.push(e));
    else await this.#save().catch(() => {});
    if (errors.length > 0) {
      log.warn("cleanup of container {cid}: {e}", { cid: containerId, e: String(errors[0]) });
    }
    return exit;
  }

  /** The VM died: every live process exits with 255, then everything is cleaned up. */
  #onVmDeath(exit: VmExit): void {
    log.error("the VM of sandbox {id} died (code {code}, signal {signal}); ending its tasks", {
      id: this.#sandbox?.id,
      code: exit.code,
      signal: exit.signal,
    });
    this.#endVm(VM_DEATH_EXIT_STATUS).catch((e) =>
      log.warn("cleanup of the sandbox after VM death: {e}", { e: String(e) })
    );
  }

  /**
   * Ends the VM and its tasks, once (VM death, StopSandbox): every live
   * process exits with 255, the sandbox ends in the clean-up order (VM
   * first), then what its containers held on the host is released.
   * `podExit` is what WaitSandbox reports.
   */
  #endVm(podExit = 0): Promise<void> {
    const sb = this.#sandbox;
    if (this.#ending || !sb || sb.status === "stopped") return this.#ending ?? Promise.resolve();
    this.#vmDead = true;
    const now = new Date();
    for (const c of this.#containers.values()) {
      for (const p of [c.init, ...c.execs.values()]) {
        p.io?.close();
        if (p.lifecycle.state === "created" && p.execId) continue;
        this.#exited(c, p, { pid: p.pid, exitStatus: VM_DEATH_EXIT_STATUS, exitedAt: now });
      }
    }
    this.#ending = (async () => {
      try {
        await this.#endSandbox();
      } finally {
        for (const c of this.#containers.values()) {
          c.inGuest = false;
          await this.#releaseResources(c).catch((e) =>
            log.warn("cleanup of {cid} after the VM ended: {e}", { cid: c.id, e: String(e) })
          );
        }
        this.#pod.vmEnded(podExit);
      }
    })().finally(() => this.#ending = undefined);
    return this.#ending;
  }

  async #endSandbox(): Promise<void> {
    const sb = this.#sandbox;
    if (!sb) return;
    await sb.stop();
  }

  async #save(): Promise<void> {
    const sb = this.#sandbox;
    if (!sb || sb.status !== "running") return;
    await sb.save(containerStates(this.#containers.values()));
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

  // containerd 2.x's Sandbox API: the pod's own life is pod_sandbox.ts.
  readonly createSandbox: Handler["createSandbox"] = (req) => this.#pod.create(req);
  readonly startSandbox: Handler["startSandbox"] = (id) => this.#pod.start(id);
  readonly stopSandbox: Handler["stopSandbox"] = (id, timeout) => this.#pod.stop(id, timeout);
  readonly waitSandbox: Handler["waitSandbox"] = (id) => this.#pod.wait(id);
  readonly sandboxStatus: Handler["sandboxStatus"] = (id, verbose) => this.#pod.status(id, verbose);
  readonly sandboxMetrics: Handler["sandboxMetrics"] = (id) => this.#pod.metrics(id);
  readonly shutdownSandbox: Handler["shutdownSandbox"] = (id) => this.#pod.shutdown(id);
  readonly podSandboxId: Handler["podSandboxId"] = () => this.#pod.id;
}

/** The handler's own type, to name its Sandbox API members. */
type Handler = RuntimeHandler;
