/**
 * One process of a container in the VM (its init or an exec): lifecycle
 * state, the pid containerd is shown (the VMM's, since guest pids mean
 * nothing on the host), the agent-side stdio, and the exit with its waiters.
 * @module
 */
import { Lifecycle } from "../lifecycle.ts";
import type { ExitStatus, StdioPaths } from "../handler.ts";
import type { AgentIo } from "./agent_io.ts";

/** A process in the VM. `execId` is "" for the init process. */
export class VirtProcess {
  readonly lifecycle: Lifecycle;
  pid = 0;
  io: AgentIo | undefined;
  exit: ExitStatus | undefined;
  /** Settles once the start event went out, so the exit event follows it. */
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

  /** Whether the exit was recorded. */
  get exited(): boolean {
    return this.exit !== undefined;
  }

  /** Records the exit (first one wins) and wakes the waiters. */
  setExited(exit: ExitStatus): boolean {
    if (this.exit) return false;
    this.exit = exit;
    const s = this.lifecycle.state;
    if (s !== "stopped" && s !== "deleted") this.lifecycle.moveTo("stopped");
    this.#resolveExit(exit);
    return true;
  }
}
