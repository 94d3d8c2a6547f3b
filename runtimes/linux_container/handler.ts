/**
 * The LinuxContainer runtime: containers run directly on the host through an
 * OCI runtime binary (runc by default). Per container it keeps
 * `<stateRoot>/<id>/` (runtime root, pid files, console sockets, the
 * runtime's log and `state.json` for `shim delete`), mounts the rootfs
 * mounts on `<bundle>/rootfs` before `create` and removes all of it on
 * delete.
 * @module
 */
import { AlreadyExistsError, FailedPreconditionError, NotFoundError } from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import { consoleSocketPath } from "../../common/console_socket.ts";
import { receiveConsoleMaster } from "../../ffi/fdpass.ts";
import { sendSignal } from "../../ffi/process.ts";
import { readProcessMetrics } from "../../resource/cgroups/stats.ts";
import { type OomWatch, watchOom } from "../../resource/cgroups/oom.ts";
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
import type { CreateSandboxRequest, PodSandboxStatus } from "../pod_sandbox.ts";
import { ContainerTable, createEvent, deleteEvent, exitEvent } from "../containers.ts";
import { stdioOf, TaskProcess } from "../process.ts";
import { Reaper } from "../reaper.ts";
import { ConsoleIo, PipeIo, type ProcessIo } from "./process_io.ts";
import { parseStdioUri } from "../stdio_uri.ts";
import { type InheritedPipes, OciRuntime, type ProcessStdio } from "./oci_runtime.ts";
import { mountRootfs, unmountRootfs } from "./rootfs.ts";
import { startHostMonitor } from "../monitor/host_monitor.ts";
import type { MonitorServer } from "../monitor/server.ts";
import { removeTreeSafely, StateStore } from "../../persist/mod.ts";
import { type LinuxContainerState, writeState } from "./state.ts";
import { LinuxPod } from "./pod.ts";
import type { SelfCommand } from "./ns_holder.ts";

const log = getLogger("runtimes.linux_container");

const SIGKILL = 9;

/** A process of a container on the host (its init or an exec). */
type ContainerProcess = TaskProcess<ProcessIo>;

/** Options of {@link LinuxContainerHandler}. */
interface LinuxContainerOptions {
  /** The OCI runtime binary (`runc`, `crun` or a path). */
  runtime?: string;
  /** Parent of the per-container state directories (the persisted state's root). */
  stateRoot?: string;
  /** The OCI runtime's `--root` (`[linux_container] oci_runtime_root`); per container when unset. */
  runtimeRoot?: string;
  /** Receives task events in order. */
  events?: EventSink;
  /** Shared reaper (the shim has one); a private one otherwise. */
  reaper?: Reaper;
  /** How to run the shim's binary: a Sandbox API pod's namespace holder (ns_holder.ts). */
  selfCommand?: SelfCommand;
}

class Container {
  readonly execs = new Map<string, ContainerProcess>();
  oom: OomWatch | undefined;
  /** `<dir>/shim-monitor.sock` (shim metrics), closed before the directory goes. */
  monitor: MonitorServer | undefined;
  constructor(
    readonly id: string,
    readonly bundle: string,
    readonly dir: string,
    readonly runtime: OciRuntime,
    readonly init: ContainerProcess,
    readonly rootfsMounted: boolean,
    /**
     * Whether the container has no PID namespace of its own (it joins the
     * pod's or the host's): its init's exit then leaves its other processes
     * running, so they are killed with it, as containerd's runc shim does.
     */
    readonly sharesPidNamespace: boolean,
  ) {}
}

/** Whether the bundle's spec gives the container no PID namespace of its own. */
function sharesPidNamespace(bundle: string): boolean {
  const spec = JSON.parse(Deno.readTextFileSync(`${bundle}/config.json`)) as {
    linux?: { namespaces?: { type?: string; path?: string }[] };
  };
  return !(spec.linux?.namespaces ?? []).some((n) => n.type === "pid" && !n.path);
}

/** Runs containers on the host through an OCI runtime binary. */
export class LinuxContainerHandler implements RuntimeHandler {
  readonly #containers = new ContainerTable<ProcessIo, Container>();
  readonly #runtime: string;
  readonly #store: StateStore;
  readonly #runtimeRoot: string | undefined;
  readonly #events: EventSink;
  readonly #reaper: Reaper;
  readonly #self: SelfCommand | undefined;
  /** The pod of containerd 2.x's Sandbox API, from CreateSandbox to ShutdownSandbox. */
  #pod: LinuxPod | undefined;

  constructor(opts: LinuxContainerOptions = {}) {
    this.#runtime = opts.runtime ?? "runc";
    // Without a root, the store's default applies (`KATA_PERSIST_ROOT`, else /run/kata).
    this.#store = new StateStore(opts.stateRoot ? { root: opts.stateRoot } : {});
    this.#runtimeRoot = opts.runtimeRoot;
    this.#events = opts.events ?? (() => {});
    this.#reaper = opts.reaper ?? new Reaper();
    this.#self = opts.selfCommand;
  }

  #container(id: string): Container {
    return this.#containers.get(id);
  }

  #process(containerId: string, execId: string): ContainerProcess {
    return this.#containers.process(containerId, execId);
  }

  async createContainer(req: CreateContainerRequest): Promise<number> {
    this.#containers.checkNew(req.id);
    const dir = this.#store.dirOf(req.id);
    const root = this.#runtimeRoot ?? `${dir}/runtime`;
    Deno.mkdirSync(dir, { recursive: true, mode: 0o711 });
    Deno.mkdirSync(root, { recursive: true, mode: 0o711 });
    const runtime = new OciRuntime(this.#runtime, root, `${dir}/runtime.log`);
    const init = new TaskProcess<ProcessIo>(req.id, "", stdioOf(req));
    let mounted = false;
    try {
      mounted = mountRootfs(req.bundle, req.rootfs);
      // A container of the Sandbox API's pod runs from a private bundle with the pod's files.
      const bundle = this.#pod?.bundleFor(req.bundle, dir) ?? req.bundle;
      if (bundle !== req.bundle) await this.#pod?.track(req.id, true);
      const state: LinuxContainerState = {
        id: req.id,
        bundle: req.bundle,
        runtime: this.#runtime,
        runtimeRoot: runtime.root,
        rootfsMounted: mounted,
        pid: 0,
      };
      await writeState(this.#store, state);
      const c = new Container(
        req.id,
        req.bundle,
        dir,
        runtime,
        init,
        mounted,
        sharesPidNamespace(bundle),
      );
      this.#containers.add(c);
      try {
        // The record written before create is enough for clean-up (the runtime
        // finds the container by id), so no second durable write is needed here.
        await this.#spawn(c, init, (opts) => runtime.create(req.id, bundle, opts));
      } catch (e) {
        this.#containers.remove(req.id);
        throw e;
      }
    } catch (e) {
      await runtime.delete(req.id, true).catch(() => {});
      if (mounted) unmountRootfs(req.bundle);
      removeTreeSafely(dir);
      await this.#pod?.track(req.id, false).catch(() => {});
      throw e;
    }
    const c = this.#containers.get(req.id);
    c.oom = watchOom(init.pid, () => this.#events({ topic: "/tasks/oom", containerId: req.id }));
    c.monitor = startHostMonitor(dir, req.id);
    this.#events(createEvent(req, init));
    return init.pid;
  }

  /** Runs a create/exec runtime command with the stdio wiring and pid tracking of `p`. */
  async #spawn(
    c: Container,
    p: ContainerProcess,
    command: (opts: { pidFile: string; consoleSocket?: string; stdio: ProcessStdio }) => Promise<
      InheritedPipes
    >,
  ): Promise<void> {
    // Refuse stdio we cannot serve before the runtime makes a process.
    for (const uri of [p.stdio.stdin, p.stdio.stdout, p.stdio.stderr]) if (uri) parseStdioUri(uri);
    const tag = p.execId ? `exec-${p.execId}` : "init";
    const pidFile = `${c.dir}/${tag}.pid`;
    let io: ProcessIo;
    if (p.stdio.terminal) {
      const consoleSocket = consoleSocketPath(c.dir, tag);
      const none: ProcessStdio = { stdin: "null", stdout: "null", stderr: "null" };
      const master = await receiveConsoleMaster(
        consoleSocket,
        () => command({ pidFile, consoleSocket, stdio: none }),
      );
      io = await ConsoleIo.open(master, p.stdio);
    } else {
      const stdio: ProcessStdio = {
        stdin: p.stdio.stdin ? "piped" : "null",
        stdout: p.stdio.stdout ? "piped" : "null",
        stderr: p.stdio.stderr ? "piped" : "null",
      };
      const pipes = await command({ pidFile, stdio });
      io = await PipeIo.open(pipes, p.stdio);
    }
    p.io = io;
    p.pid = Number(Deno.readTextFileSync(pidFile).trim());
    this.#reaper.watch(p.pid).then((info) =>
      this.#onExit(c, p, { pid: info.pid, exitStatus: info.status, exitedAt: new Date() })
    );
  }

  async #onExit(c: Container, p: ContainerProcess, exit: ExitStatus): Promise<void> {
    await p.started;
    if (p === c.init && c.sharesPidNamespace) {
      // Left alive, they would hold the container's stdio open, and containerd
      // waits for its end before it deletes the task.
      await c.runtime.kill(c.id, SIGKILL, true).catch((e) =>
        log.warn("killing what is left of {id} failed: {error}", { id: c.id, error: String(e) })
      );
    }
    await p.io?.drained();
    if (p.lifecycle.state === "deleted") return;
    log.debug("process {id} of {container} exited with {status}", {
      id: p.execId || "init",
      container: c.id,
      status: exit.exitStatus,
    });
    p.setExited(exit);
    this.#events(exitEvent(c.id, p, exit));
  }

  async start(containerId: string, execId: string): Promise<number> {
    const c = this.#container(containerId);
    const p = this.#process(containerId, execId);
    p.lifecycle.require("start");
    return await p.starting(async () => {
      if (!execId) {
        await c.runtime.start(containerId);
        p.lifecycle.moveTo("running");
        this.#events({ topic: "/tasks/start", containerId, pid: p.pid });
      } else {
        c.init.lifecycle.require("exec");
        const specFile = `${c.dir}/exec-${execId}.json`;
        Deno.writeTextFileSync(specFile, JSON.stringify(p.spec));
        try {
          await this.#spawn(c, p, (opts) => c.runtime.exec(containerId, specFile, opts));
        } finally {
          Deno.removeSync(specFile);
        }
        p.lifecycle.moveTo("running");
        this.#events({ topic: "/tasks/exec-started", containerId, execId, pid: p.pid });
      }
      return p.pid;
    });
  }

  exec(req: ExecRequest): Promise<void> {
    this.#events(this.#containers.addExec(req));
    return Promise.resolve();
  }

  async kill(containerId: string, execId: string, signal: number, all: boolean): Promise<void> {
    const c = this.#container(containerId);
    const p = this.#process(containerId, execId);
    p.requireSignal();
    if (!execId) {
      await c.runtime.kill(containerId, signal, all);
      return;
    }
    if (!sendSignal(p.pid, signal)) {
      throw new NotFoundError(
        `Cannot signal exec "${execId}" of container "${containerId}": the process already finished`,
      );
    }
  }

  wait(containerId: string, execId: string): Promise<ExitStatus> {
    return this.#process(containerId, execId).wait();
  }

  state(containerId: string, execId: string): Promise<ProcessStatus> {
    return Promise.resolve(this.#containers.status(containerId, execId));
  }

  async pids(containerId: string): Promise<ProcessInfo[]> {
    const c = this.#container(containerId);
    const pids = await c.runtime.ps(containerId);
    const byPid = new Map<number, string>();
    for (const [id, p] of c.execs) if (p.pid) byPid.set(p.pid, id);
    return pids.map((pid) => ({ pid, execId: byPid.get(pid) }));
  }

  async pause(containerId: string): Promise<void> {
    this.#events(await this.#containers.pause(containerId, (c) => c.runtime.pause(containerId)));
  }

  async resume(containerId: string): Promise<void> {
    this.#events(await this.#containers.resume(containerId, (c) => c.runtime.resume(containerId)));
  }

  async update(containerId: string, resources: Record<string, unknown>): Promise<void> {
    const c = this.#container(containerId);
    c.init.lifecycle.require("update");
    const file = `${c.dir}/update.json`;
    Deno.writeTextFileSync(file, JSON.stringify(resources));
    try {
      await c.runtime.update(containerId, file);
    } finally {
      Deno.removeSync(file);
    }
  }

  stats(containerId: string): Promise<ContainerStats> {
    const c = this.#container(containerId);
    if (c.init.lifecycle.state === "stopped" || !c.init.pid) {
      throw new FailedPreconditionError(
        `Cannot read the stats of container "${containerId}": it is ${c.init.lifecycle.state}`,
      );
    }
    return Promise.resolve(readProcessMetrics(c.init.pid));
  }

  resizePty(containerId: string, execId: string, width: number, height: number): Promise<void> {
    const p = this.#process(containerId, execId);
    p.requireResize();
    p.io?.resize(width, height);
    return Promise.resolve();
  }

  closeIo(containerId: string, execId: string): Promise<void> {
    const p = this.#process(containerId, execId);
    p.lifecycle.require("closeIo");
    p.io?.closeStdin();
    return Promise.resolve();
  }

  async delete(containerId: string, execId: string): Promise<ExitStatus> {
    const c = this.#container(containerId);
    const p = this.#process(containerId, execId);
    p.lifecycle.require("delete");
    if (execId) return this.#containers.deleteExec(c, p);
    if (p.lifecycle.state === "created") {
      // Never started: stop its waiting init first so the exit is recorded.
      await c.runtime.kill(containerId, SIGKILL, false).catch(() => {});
      if (p.pid) await p.wait();
    }
    await this.#destroy(c);
    p.lifecycle.moveTo("deleted");
    const exit = p.exitOrNone();
    this.#events(deleteEvent(containerId, exit));
    return exit;
  }

  async #destroy(c: Container): Promise<void> {
    c.oom?.close();
    await c.monitor?.close().catch((e) => log.warn("{id}: {e}", { id: c.id, e: String(e) }));
    for (const e of c.execs.values()) e.io?.close();
    c.init.io?.close();
    await c.runtime.delete(c.id, true);
    if (c.rootfsMounted) unmountRootfs(c.bundle);
    // Mount-aware: nothing below is removed while something stays mounted.
    removeTreeSafely(c.dir);
    this.#containers.remove(c.id);
    await this.#pod?.track(c.id, false);
  }

  taskPid(containerId: string): number {
    return this.#containers.taskPid(containerId);
  }

  containerIds(): string[] {
    return this.#containers.ids();
  }

  async shutdown(): Promise<void> {
    for (const c of [...this.#containers.values()]) {
      await c.runtime.kill(c.id, SIGKILL, true).catch(() => {});
      await this.#destroy(c).catch((e) => log.warn("cleanup of {id} failed: {e}", { id: c.id, e }));
    }
    await this.#pod?.shutdown().catch((e) =>
      log.warn("cleanup of sandbox {id} failed: {e}", { id: this.#pod?.id, e })
    );
    this.#reaper.close();
  }

  // containerd 2.x's Sandbox API: the pod's shared namespaces (pod.ts).
  async createSandbox(req: CreateSandboxRequest): Promise<void> {
    if (this.#pod) {
      throw new AlreadyExistsError(
        `Cannot create sandbox "${req.id}": this shim serves sandbox "${this.#pod.id}"`,
      );
    }
    this.#pod = await LinuxPod.create(req, {
      store: this.#store,
      reaper: this.#reaper,
      self: this.#self,
      killContainers: async () => {
        for (const c of this.#containers.values()) {
          await c.runtime.kill(c.id, SIGKILL, true).catch(() => {});
        }
      },
    });
  }
  #podOf(id: string): LinuxPod {
    if (this.#pod?.id !== id) throw new NotFoundError(`Sandbox "${id}" does not exist`);
    return this.#pod;
  }
  startSandbox(id: string): Promise<{ pid: number; createdAt: Date }> {
    return this.#podOf(id).start();
  }
  stopSandbox(id: string): Promise<void> {
    return this.#podOf(id).stop();
  }
  waitSandbox(id: string): Promise<ExitStatus> {
    return this.#podOf(id).wait();
  }
  sandboxStatus(id: string, verbose = false): Promise<PodSandboxStatus> {
    return Promise.resolve(this.#podOf(id).status(verbose));
  }
  sandboxMetrics(id: string): Promise<ContainerStats> {
    return Promise.resolve(this.#podOf(id).metrics());
  }
  async shutdownSandbox(id: string): Promise<void> {
    await this.#podOf(id).shutdown();
    this.#pod = undefined;
  }
  podSandboxId(): string | undefined {
    return this.#pod?.id;
  }
}
