/**
 * A container in the guest, with explicit states: created (bundle written,
 * storages mounted) → running (`runc run` has started the init) → stopped,
 * plus paused.
 * Its processes (init and execs) are {@link GuestProcess}es.
 * @module
 */
import { AlreadyExistsError, FailedPreconditionError, NotFoundError } from "../../common/errors.ts";
import { consoleSocketPath } from "../../common/console_socket.ts";
import { settleWithin } from "../../common/time.ts";
import { getLogger } from "../../common/log.ts";
import { mountsUnder } from "../../persist/remove_tree.ts";
import { GuestProcess } from "./guest_process.ts";
import { TerminalProcess } from "./terminal_process.ts";
import type { OciSpec } from "./oci_spec.ts";
import { execArgs, runArgs, runc, type RuncConfig } from "./runc.ts";
import { type MountPlan, undoPlan } from "./storage.ts";
import { parseRuncJson } from "./stats.ts";

/**
 * Where the agent's console sockets live: a short directory of its own, since
 * the bundle's path (`/run/kata-containers/<64-character id>`) leaves too little
 * of a socket path's 107 bytes. TerminalProcess makes it.
 */
const CONSOLE_DIR = "/run/kata-containers/console";

const log = getLogger("agent.guest.container");

/** A process of a container: pipes, or a terminal. */
type ContainerProcess = GuestProcess | TerminalProcess;

/** Container states as the agent tracks them. */
type ContainerState = "created" | "running" | "paused" | "stopped";

/** A guest container. */
export class GuestContainer {
  readonly id: string;
  readonly bundle: string;
  readonly init: ContainerProcess;
  readonly cgroupsPath: string;
  #runc: RuncConfig;
  #execs = new Map<string, ContainerProcess>();
  #storages: MountPlan[];
  #paused = false;

  private constructor(
    id: string,
    bundle: string,
    cfg: RuncConfig,
    storages: MountPlan[],
    cgroupsPath: string,
    terminal: boolean,
  ) {
    this.id = id;
    this.bundle = bundle;
    this.#runc = cfg;
    this.#storages = storages;
    this.cgroupsPath = cgroupsPath;
    const pidFile = `${bundle}/init.pid`;
    this.init = terminal
      ? new TerminalProcess("", {
        cmd: cfg.binary,
        args: (socket) => runArgs(cfg, id, bundle, pidFile, socket),
        pidFile,
        socketPath: consoleSocketPath(CONSOLE_DIR, `${id}/init`),
      })
      : new GuestProcess("", {
        cmd: cfg.binary,
        args: runArgs(cfg, id, bundle, pidFile),
        pidFile,
        stdin: true,
      });
  }

  /**
   * Writes the bundle (config.json) for `spec`; `storages` are the container's
   * mounts, undone on removal.
   */
  static async create(
    id: string,
    spec: OciSpec,
    bundleRoot: string,
    cfg: RuncConfig,
    storages: MountPlan[],
  ): Promise<GuestContainer> {
    const process = spec.process as { terminal?: boolean } | undefined;
    const bundle = `${bundleRoot}/${id}`;
    await Deno.mkdir(bundle, { recursive: true });
    await Deno.writeTextFile(`${bundle}/config.json`, JSON.stringify(spec));
    const linux = spec.linux as { cgroupsPath?: string } | undefined;
    return new GuestContainer(
      id,
      bundle,
      cfg,
      storages,
      linux?.cgroupsPath ?? "",
      process?.terminal === true,
    );
  }

  /** Current state. */
  get state(): ContainerState {
    if (this.init.state === "created") return "created";
    if (this.init.state === "exited") return "stopped";
    return this.#paused ? "paused" : "running";
  }

  /**
   * Starts the init process.
   * @throws {FailedPreconditionError} unless the container is created
   */
  async start(): Promise<void> {
    if (this.state !== "created") {
      throw new FailedPreconditionError(`Cannot start container "${this.id}": it is ${this.state}`);
    }
    await this.init.start();
    // `runc run` stays in the foreground: wait until it has made the
    // container and started its init, so an exec right after start finds it.
    if (this.init instanceof GuestProcess) await this.init.ready();
  }

  /**
   * Runs a new process (OCI process JSON) in the running container.
   * @throws {AlreadyExistsError} when `execId` is taken
   * @throws {FailedPreconditionError} unless the container is running
   */
  async exec(execId: string, process: OciSpec): Promise<ContainerProcess> {
    if (!execId) throw new FailedPreconditionError(`Cannot exec in "${this.id}": empty exec id`);
    if (this.#execs.has(execId)) {
      throw new AlreadyExistsError(`Cannot exec "${execId}" in "${this.id}": exec id exists`);
    }
    if (this.state !== "running") {
      throw new FailedPreconditionError(
        `Cannot exec in container "${this.id}": it is ${this.state}`,
      );
    }
    const file = `${this.bundle}/exec-${execId}.json`;
    await Deno.writeTextFile(file, JSON.stringify(process));
    const pidFile = `${this.bundle}/exec-${execId}.pid`;
    const cfg = this.#runc;
    const p = process.terminal
      ? new TerminalProcess(execId, {
        cmd: cfg.binary,
        args: (socket) => execArgs(cfg, this.id, file, pidFile, socket),
        pidFile,
        socketPath: consoleSocketPath(CONSOLE_DIR, `${this.id}/exec-${execId}`),
      })
      : new GuestProcess(execId, {
        cmd: cfg.binary,
        args: execArgs(cfg, this.id, file, pidFile),
        pidFile,
        stdin: true,
      });
    this.#execs.set(execId, p);
    try {
      await p.start();
      if (p instanceof GuestProcess) await p.ready();
    } catch (err) {
      this.#execs.delete(execId);
      await p.close();
      throw err;
    }
    return p;
  }

  /**
   * The process `execId` ("" is the init).
   * @throws {NotFoundError} for an unknown exec id
   */
  process(execId: string): ContainerProcess {
    if (!execId) return this.init;
    const p = this.#execs.get(execId);
    if (!p) throw new NotFoundError(`Process "${execId}" not found in container "${this.id}"`);
    return p;
  }

  /** Pauses (freezes) the container. */
  async pause(): Promise<void> {
    if (this.state !== "running") {
      throw new FailedPreconditionError(`Cannot pause container "${this.id}": it is ${this.state}`);
    }
    await runc(this.#runc, ["pause", this.id]);
    this.#paused = true;
  }

  /** Resumes a paused container. */
  async resume(): Promise<void> {
    if (this.state !== "paused") {
      throw new FailedPreconditionError(
        `Cannot resume container "${this.id}": it is ${this.state}`,
      );
    }
    await runc(this.#runc, ["resume", this.id]);
    this.#paused = false;
  }

  /** Applies new resources (OCI linux.resources JSON). */
  async update(resources: OciSpec): Promise<void> {
    if (this.state !== "running" && this.state !== "paused") {
      throw new FailedPreconditionError(
        `Cannot update container "${this.id}": it is ${this.state}`,
      );
    }
    await runc(this.#runc, ["update", "--resources", "-", this.id], JSON.stringify(resources));
  }

  /** runc's statistics (the `data` of `runc events --stats`). */
  async stats(): Promise<Record<string, unknown>> {
    if (this.state !== "running" && this.state !== "paused") {
      throw new FailedPreconditionError(`Cannot read stats of "${this.id}": it is ${this.state}`);
    }
    const out = parseRuncJson(await runc(this.#runc, ["events", "--stats", this.id]));
    return (out.data ?? {}) as Record<string, unknown>;
  }

  /**
   * Stops everything (SIGKILL after `timeoutSec`, 0 = at once), deletes the
   * runc state, unmounts the container's storages and removes the bundle.
   */
  async remove(timeoutSec: number): Promise<void> {
    if (this.state === "paused") await this.resume().catch(() => {});
    const running = [this.init, ...this.#execs.values()].filter((p) => p.state === "running");
    if (running.length > 0) {
      if (timeoutSec > 0) {
        await settleWithin(Promise.all(running.map((p) => p.wait())), timeoutSec * 1000);
      }
      for (const p of running) if (p.state === "running") await p.signal(9).catch(() => {});
      await Promise.all(running.map((p) => p.wait()));
    }
    await runc(this.#runc, ["delete", "--force", this.id]).catch(() => {});
    for (const p of [this.init, ...this.#execs.values()]) await p.close();
    for (const plan of [...this.#storages].reverse()) {
      const err = await undoPlan(plan);
      if (err) log.warn("cannot unmount {target}: {error}", { target: plan.target, error: err });
    }
    // Never through a mount left behind by a failed unmount: a rootfs shared
    // from the host would lose the host's files.
    const info = await Deno.readTextFile("/proc/self/mountinfo").catch(() => null);
    const left = info === null ? [this.bundle] : mountsUnder(this.bundle, info);
    if (left.length > 0) {
      log.warn("bundle {bundle} kept: {mount} is still mounted", {
        bundle: this.bundle,
        mount: left[0],
      });
      return;
    }
    await Deno.remove(this.bundle, { recursive: true }).catch(() => {});
  }
}
