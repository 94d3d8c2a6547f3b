/**
 * One process of a container (its init or an exec), as both runtimes keep
 * it: lifecycle state, the pid containerd is shown, the stdio plumbing of
 * the runtime (`Io`), and the exit with its waiters.
 * @module
 */
import { FailedPreconditionError } from "../common/errors.ts";
import { Lifecycle } from "./lifecycle.ts";
import type { ExitStatus, StdioPaths } from "./handler.ts";

/** What both runtimes' stdio plumbing offers the process bookkeeping. */
export interface ProcessStdioIo {
  /** Resolves once the output was copied out (or gave up), so the exit event follows it. */
  drained(): Promise<void>;
  /** Releases the FIFOs and streams. */
  close(): void;
}

/** The stdio fields of a request, without the rest of it. */
export function stdioOf(s: StdioPaths): StdioPaths {
  return { stdin: s.stdin, stdout: s.stdout, stderr: s.stderr, terminal: s.terminal };
}

/** A container process. `execId` is "" for the init process. */
export class TaskProcess<Io extends ProcessStdioIo = ProcessStdioIo> {
  readonly lifecycle: Lifecycle;
  pid = 0;
  io: Io | undefined;
  exit: ExitStatus | undefined;
  /** Settles once the start event went out (or the start failed), so the exit event follows it. */
  started: Promise<void> = Promise.resolve();
  readonly #exited: Promise<ExitStatus>;
  #resolveExit!: (e: ExitStatus) => void;

  constructor(
    readonly containerId: string,
    readonly execId: string,
    readonly stdio: StdioPaths,
    /** The OCI process (exec only). */
    readonly spec?: Record<string, unknown>,
  ) {
    this.lifecycle = new Lifecycle(
      execId ? `exec "${execId}" of container "${containerId}"` : `container "${containerId}"`,
    );
    this.#exited = new Promise((r) => (this.#resolveExit = r));
  }

  /** Resolves when the process has exited. */
  wait(): Promise<ExitStatus> {
    return this.#exited;
  }

  /**
   * Runs `start` (the Start rpc's work) with {@link started} pending until it
   * settles, so an exit that races the start is reported after the start event.
   */
  async starting<T>(start: () => Promise<T>): Promise<T> {
    let release!: () => void;
    this.started = new Promise((r) => (release = r));
    try {
      return await start();
    } finally {
      release();
    }
  }

  /** Whether the exit was recorded. */
  get exited(): boolean {
    return this.exit !== undefined;
  }

  /** Records the exit (first one wins) and wakes the waiters; false if it was recorded already. */
  setExited(exit: ExitStatus): boolean {
    if (this.exit) return false;
    this.exit = exit;
    const s = this.lifecycle.state;
    if (s !== "stopped" && s !== "deleted") this.lifecycle.moveTo("stopped");
    this.#resolveExit(exit);
    return true;
  }

  /** Throws unless the process may be signalled now; an exec must have been started. */
  requireSignal(): void {
    this.lifecycle.require("kill");
    if (this.execId && this.lifecycle.state === "created") {
      throw new FailedPreconditionError(
        `Cannot signal exec "${this.execId}" of container "${this.containerId}": it was not started`,
      );
    }
  }

  /** Throws unless the terminal of the process may be resized now (it needs one). */
  requireResize(): void {
    this.lifecycle.require("resize");
    if (!this.stdio.terminal) {
      throw new FailedPreconditionError(
        `Cannot resize the terminal of ${this.lifecycle.what}: it has no terminal`,
      );
    }
  }

  /** The exit, or a zero status now for a process that never ran (delete of a created one). */
  exitOrNone(): ExitStatus {
    return this.exit ?? { pid: this.pid, exitStatus: 0, exitedAt: new Date() };
  }
}
