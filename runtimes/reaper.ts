/**
 * Collects the exit status of processes this shim owns. The shim is a child
 * subreaper, so a container's init becomes our child once the OCI runtime
 * that forked it exits. On every SIGCHLD we waitpid only the pids we were
 * asked to watch, never -1, so that Deno's own `Deno.Command` children keep
 * their statuses for Deno.
 * @module
 */
import { AlreadyExistsError } from "../common/errors.ts";
import { type ExitInfo, processExists, tryReap } from "../ffi/process.ts";

/** Exit status reported for a process whose status could not be collected. */
export const UNKNOWN_EXIT_STATUS = 255;
// A slow sweep backs up SIGCHLD (signals coalesce) and keeps the event loop
// alive while an exit is awaited (Deno's signal listeners do not).
const SWEEP_MS = 1000;
const POLL_MS = 250;

interface Watch {
  resolve(info: ExitInfo): void;
}

/** Watches pids and resolves each one's exit. */
export class Reaper {
  readonly #watches = new Map<number, Watch>();
  #listening = false;
  #fastPoll = false;
  #poll: ReturnType<typeof setInterval> | undefined;
  readonly #onSignal = () => this.#sweep();

  /**
   * Resolves when `pid` exits, with 128+signal for a death by signal. A pid
   * that is not our child (we are not its reaper) is polled through /proc and
   * reported with {@link UNKNOWN_EXIT_STATUS}.
   */
  watch(pid: number): Promise<ExitInfo> {
    const existing = this.#watches.get(pid);
    if (existing) throw new AlreadyExistsError(`Pid ${pid} is watched already`);
    const done = new Promise<ExitInfo>((resolve) => this.#watches.set(pid, { resolve }));
    this.#listen();
    // It may have exited before we knew its pid: SIGCHLD came and went.
    this.#check(pid);
    return done;
  }

  /** Number of pids still watched. */
  get size(): number {
    return this.#watches.size;
  }

  /** Stops listening; pending watches never resolve. */
  close(): void {
    this.#watches.clear();
    this.#unlisten();
  }

  #check(pid: number): void {
    const w = this.#watches.get(pid);
    if (!w) return;
    const r = tryReap(pid);
    if (r === undefined) return;
    if (r === null) {
      // Not our child: we only learn that it is gone.
      if (processExists(pid)) {
        this.#startPolling();
        return;
      }
      this.#finish(pid, { pid, status: UNKNOWN_EXIT_STATUS });
      return;
    }
    this.#finish(pid, r);
  }

  #finish(pid: number, info: ExitInfo): void {
    const w = this.#watches.get(pid);
    if (!w) return;
    this.#watches.delete(pid);
    if (this.#watches.size === 0) this.#unlisten();
    w.resolve(info);
  }

  #sweep(): void {
    for (const pid of [...this.#watches.keys()]) this.#check(pid);
  }

  #listen(): void {
    if (this.#listening) return;
    Deno.addSignalListener("SIGCHLD", this.#onSignal);
    this.#listening = true;
    this.#poll = setInterval(() => this.#sweep(), SWEEP_MS);
  }

  #startPolling(): void {
    if (this.#fastPoll) return;
    clearInterval(this.#poll);
    this.#poll = setInterval(() => this.#sweep(), POLL_MS);
    this.#fastPoll = true;
  }

  #unlisten(): void {
    if (this.#listening) {
      Deno.removeSignalListener("SIGCHLD", this.#onSignal);
      this.#listening = false;
    }
    if (this.#poll !== undefined) {
      clearInterval(this.#poll);
      this.#poll = undefined;
      this.#fastPoll = false;
    }
  }
}
