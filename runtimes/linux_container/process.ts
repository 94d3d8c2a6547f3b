/**
 * One process of a Linux container (its init or an exec): lifecycle state,
 * pid, stdio plumbing and exit, with waiters that resolve on exit.
 * @module
 */
import { Lifecycle } from "../lifecycle.ts";
import type { ExitStatus, StdioPaths } from "../handler.ts";
import type { ProcessIo } from "./process_io.ts";

/** A container process. `execId` is "" for the init process. */
export class ContainerProcess {
  readonly lifecycle: Lifecycle;
  pid = 0;
  io: ProcessIo | undefined;
  exit: ExitStatus | undefined;
  /** Settles once the start event went out (or the start failed), so the exit follows it. */
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

  /** Records the exit and wakes the waiters. */
  setExited(exit: ExitStatus): void {
    this.exit = exit;
    if (this.lifecycle.state !== "stopped" && this.lifecycle.state !== "deleted") {
      this.lifecycle.moveTo("stopped");
    }
    this.#resolveExit(exit);
  }
}
