/**
 * The containers of a runtime handler and their processes, with the lookups,
 * checks and answers that do not depend on where the processes run (host or
 * VM): both runtimes keep their containers in one of these.
 * @module
 */
import { AlreadyExistsError, InvalidArgumentError, NotFoundError } from "../common/errors.ts";
import type { CreateContainerRequest, ExecRequest, ExitStatus, ProcessStatus } from "./handler.ts";
import type { TaskEvent } from "./events.ts";
import { type ProcessStdioIo, stdioOf, TaskProcess } from "./process.ts";

/** The task event of one topic. */
type EventOf<T extends TaskEvent["topic"]> = Extract<TaskEvent, { topic: T }>;

/** What the table needs of a container: its id, bundle, init and execs. */
export interface TaskContainer<P extends TaskProcess> {
  readonly id: string;
  readonly bundle: string;
  readonly init: P;
  readonly execs: Map<string, P>;
}

/** The containers of one handler, by id. */
export class ContainerTable<Io extends ProcessStdioIo, C extends TaskContainer<TaskProcess<Io>>> {
  readonly #containers = new Map<string, C>();

  /** The container `id`; NotFoundError if there is none. */
  get(id: string): C {
    const c = this.#containers.get(id);
    if (!c) throw new NotFoundError(`Container "${id}" does not exist`);
    return c;
  }

  /** The init (`execId` "") or an exec process; NotFoundError if there is none. */
  process(containerId: string, execId: string): TaskProcess<Io> {
    const c = this.get(containerId);
    if (!execId) return c.init;
    const p = c.execs.get(execId);
    if (!p) {
      throw new NotFoundError(`Exec "${execId}" of container "${containerId}" does not exist`);
    }
    return p;
  }

  /** Whether container `id` is held. */
  has(id: string): boolean {
    return this.#containers.has(id);
  }

  /** Throws unless a container `id` may be created: it needs an id no container has. */
  checkNew(id: string): void {
    if (!id) throw new InvalidArgumentError("Cannot create a container without an id");
    if (this.#containers.has(id)) {
      throw new AlreadyExistsError(`Container "${id}" exists already`);
    }
  }

  /** Holds `c` under its id. */
  add(c: C): void {
    this.#containers.set(c.id, c);
  }

  /** Forgets container `id`. */
  remove(id: string): void {
    this.#containers.delete(id);
  }

  /** The containers held, in creation order (a live iterator, as a Map's). */
  values(): MapIterator<C> {
    return this.#containers.values();
  }

  /** Ids of the containers held. */
  ids(): string[] {
    return [...this.#containers.keys()];
  }

  /** The pid of container `id`'s init process (0 when there is none). */
  taskPid(id: string): number {
    return this.#containers.get(id)?.init.pid ?? 0;
  }

  /**
   * Adds the exec of `req` in `created` (the `Exec` rpc);
   * the container must exist and allow execs, and the exec id be new.
   * Returns the event to emit.
   */
  addExec(req: ExecRequest): EventOf<"/tasks/exec-added"> {
    const c = this.get(req.containerId);
    if (!req.execId) throw new InvalidArgumentError("Cannot exec without an exec id");
    if (c.execs.has(req.execId)) {
      throw new AlreadyExistsError(
        `Exec "${req.execId}" of container "${req.containerId}" exists already`,
      );
    }
    c.init.lifecycle.require("exec");
    c.execs.set(
      req.execId,
      new TaskProcess<Io>(req.containerId, req.execId, stdioOf(req), req.process),
    );
    return { topic: "/tasks/exec-added", containerId: req.containerId, execId: req.execId };
  }

  /**
   * Pauses container `containerId` (the `Pause` rpc): checks its init allows
   * it, runs `pause` (the runtime's part), then records the state. Returns
   * the event to emit.
   */
  async pause(
    containerId: string,
    pause: (c: C) => Promise<unknown>,
  ): Promise<EventOf<"/tasks/paused">> {
    const c = this.get(containerId);
    c.init.lifecycle.require("pause");
    await pause(c);
    c.init.lifecycle.moveTo("paused");
    return { topic: "/tasks/paused", containerId };
  }

  /** Resumes container `containerId` (the `Resume` rpc), as {@link pause} does. */
  async resume(
    containerId: string,
    resume: (c: C) => Promise<unknown>,
  ): Promise<EventOf<"/tasks/resumed">> {
    const c = this.get(containerId);
    c.init.lifecycle.require("resume");
    await resume(c);
    c.init.lifecycle.moveTo("running");
    return { topic: "/tasks/resumed", containerId };
  }

  /** The `State` answer for a process. */
  status(containerId: string, execId: string): ProcessStatus {
    const c = this.get(containerId);
    const p = this.process(containerId, execId);
    return {
      containerId,
      execId,
      bundle: c.bundle,
      pid: p.pid,
      state: p.lifecycle.state,
      exitStatus: p.exit?.exitStatus ?? 0,
      exitedAt: p.exit?.exitedAt,
      ...p.stdio,
    };
  }

  /**
   * Deletes a stopped or never started exec of `c` (the `Delete` rpc for an
   * exec): closes its stdio and forgets it. Returns its exit.
   */
  deleteExec(c: C, p: TaskProcess<Io>): ExitStatus {
    p.io?.close();
    p.lifecycle.moveTo("deleted");
    c.execs.delete(p.execId);
    return p.exitOrNone();
  }
}

/** The `/tasks/create` event of a created container whose init is `init`. */
export function createEvent(
  req: CreateContainerRequest,
  init: TaskProcess,
): EventOf<"/tasks/create"> {
  return {
    topic: "/tasks/create",
    containerId: req.id,
    bundle: req.bundle,
    rootfs: req.rootfs,
    io: init.stdio,
    pid: init.pid,
  };
}

/** The `/tasks/exit` event of `p`, a process of container `containerId`. */
export function exitEvent(
  containerId: string,
  p: TaskProcess,
  exit: ExitStatus,
): EventOf<"/tasks/exit"> {
  return {
    topic: "/tasks/exit",
    containerId,
    id: p.execId || containerId,
    pid: exit.pid,
    exitStatus: exit.exitStatus,
    exitedAt: exit.exitedAt,
  };
}

/** The `/tasks/delete` event of container `containerId`'s init process. */
export function deleteEvent(containerId: string, exit: ExitStatus): EventOf<"/tasks/delete"> {
  return {
    topic: "/tasks/delete",
    containerId,
    id: "",
    pid: exit.pid,
    exitStatus: exit.exitStatus,
    exitedAt: exit.exitedAt,
  };
}
