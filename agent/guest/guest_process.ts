/**
 * A process the agent runs for a container (its init through `runc run`, or
 * an exec through `runc exec`), with explicit states: created → running →
 * exited. Output is read on demand (ReadStdout/ReadStderr); the exit status
 * is 128+signal for a signal death, as kata-agent reports it.
 * @module
 */
import { FailedPreconditionError, InvalidArgumentError } from "../../common/errors.ts";
import { settleWithin } from "../../common/time.ts";
import { OutputStream } from "./output_stream.ts";

const READY_POLL_MS = 10;
const READY_POLL_CAP_MS = 120_000;

/** Lifecycle state of a guest process. */
export type ProcessState = "created" | "running" | "exited";

/** What to run: the command line and where the real process's pid is written. */
interface ProcessCommand {
  cmd: string;
  args: string[];
  /** File the runtime writes the real (container) pid to; signals go to that pid. */
  pidFile?: string;
  /** Whether the process has a stdin stream (Kata: stdin open until CloseStdin). */
  stdin: boolean;
}

/** One process of a container. */
export class GuestProcess {
  readonly execId: string;
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  #command: ProcessCommand;
  #state: ProcessState = "created";
  #child: Deno.ChildProcess | undefined;
  #stdinWriter: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #status: Promise<number>;
  #resolveStatus!: (code: number) => void;
  #started!: (child: Deno.ChildProcess | null) => void;
  #exitCode: number | undefined;

  constructor(execId: string, command: ProcessCommand) {
    this.execId = execId;
    this.#command = command;
    const started = new Promise<Deno.ChildProcess | null>((r) => this.#started = r);
    this.stdout = new OutputStream(started.then((c) => c?.stdout ?? null));
    this.stderr = new OutputStream(started.then((c) => c?.stderr ?? null));
    this.#status = new Promise((r) => this.#resolveStatus = r);
  }

  /** Current state. */
  get state(): ProcessState {
    return this.#state;
  }

  /** The exit status once exited. */
  get exitCode(): number | undefined {
    return this.#exitCode;
  }

  /** Pid of the runtime child (runc) once running. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /**
   * Spawns the process.
   * @throws {FailedPreconditionError} when it was already started
   */
  start(): void {
    if (this.#state !== "created") {
      throw new FailedPreconditionError(
        `Cannot start process "${this.execId}": it is ${this.#state}`,
      );
    }
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(this.#command.cmd, {
        args: this.#command.args,
        stdin: this.#command.stdin ? "piped" : "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (err) {
      this.#exit(127);
      this.#started(null);
      throw err;
    }
    this.#child = child;
    this.#state = "running";
    if (this.#command.stdin) this.#stdinWriter = child.stdin.getWriter();
    this.#started(child);
    child.status.then(
      (s) => this.#exit(s.signal ? 128 + signalNumber(s.signal) : s.code),
      () => this.#exit(255),
    );
  }

  /**
   * Resolves once the runtime has written the pid file (for `runc run` and
   * `runc exec`: the process exists and has been started) or the process has
   * exited, whichever comes first; at once without a pid file. Answering a
   * start before this lets an exec race the container's creation.
   */
  async ready(): Promise<void> {
    const pidFile = this.#command.pidFile;
    if (!pidFile) return;
    let exited = false;
    const done = this.#status.then(() => exited = true);
    // runc writes the file when the process runs; a small poll interval
    // keeps start latency low, the cap keeps a stuck runtime from holding
    // the request forever (the process state still tells the truth).
    for (let waited = 0; !exited && waited < READY_POLL_CAP_MS; waited += READY_POLL_MS) {
      if ((await Deno.stat(pidFile).catch(() => null))?.size) return;
      await settleWithin(done, READY_POLL_MS);
    }
  }

  #exit(code: number): void {
    this.#state = "exited";
    this.#exitCode = code;
    this.#stdinWriter?.close().catch(() => {});
    this.#stdinWriter = undefined;
    this.#resolveStatus(code);
  }

  /** Resolves with the exit status (128+signal for a signal death). */
  wait(): Promise<number> {
    return this.#status;
  }

  /**
   * Writes to stdin; resolves with the number of bytes written.
   * @throws {FailedPreconditionError} when stdin is closed or absent
   */
  async writeStdin(data: Uint8Array): Promise<number> {
    if (!this.#stdinWriter) {
      throw new FailedPreconditionError(
        `Cannot write stdin of process "${this.execId}": stdin is closed`,
      );
    }
    await this.#stdinWriter.write(data);
    return data.length;
  }

  /** Closes stdin (the process sees end of file); a no-op when already closed. */
  async closeStdin(): Promise<void> {
    const w = this.#stdinWriter;
    this.#stdinWriter = undefined;
    await w?.close().catch(() => {});
  }

  /**
   * Window size changes need a terminal.
   * @throws {FailedPreconditionError} always: this process has pipes, not a terminal
   */
  resize(_columns: number, _rows: number): void {
    throw new FailedPreconditionError(`Cannot resize process "${this.execId}": it has no terminal`);
  }

  /** The pid that signals go to: the container process (from the pid file) or the runtime child. */
  async targetPid(): Promise<number | undefined> {
    if (this.#command.pidFile) {
      try {
        const pid = parseInt(await Deno.readTextFile(this.#command.pidFile), 10);
        if (pid > 0) return pid;
      } catch {
        // not written yet: fall back to the runtime child, which forwards signals
      }
    }
    return this.#child?.pid;
  }

  /**
   * Sends signal `signo` to the process.
   * @throws {FailedPreconditionError} when it has not started or has exited
   */
  async signal(signo: number): Promise<void> {
    if (this.#state !== "running") {
      throw new FailedPreconditionError(
        `Cannot signal process "${this.execId}": it is ${this.#state}`,
      );
    }
    const pid = await this.targetPid();
    if (pid === undefined) {
      throw new FailedPreconditionError(`Cannot signal process "${this.execId}": no pid`);
    }
    Deno.kill(pid, signalName(signo));
  }

  /** Releases the streams; the caller makes sure the process has exited. */
  async close(): Promise<void> {
    await this.closeStdin();
    if (this.#state === "created") {
      this.#started(null);
      this.#exit(0);
    }
    await Promise.all([this.stdout.cancel(), this.stderr.cancel()]);
  }
}

const SIGNALS: Deno.Signal[] = [
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGILL",
  "SIGTRAP",
  "SIGABRT",
  "SIGBUS",
  "SIGFPE",
  "SIGKILL",
  "SIGUSR1",
  "SIGSEGV",
  "SIGUSR2",
  "SIGPIPE",
  "SIGALRM",
  "SIGTERM",
  "SIGSTKFLT",
  "SIGCHLD",
  "SIGCONT",
  "SIGSTOP",
  "SIGTSTP",
  "SIGTTIN",
  "SIGTTOU",
  "SIGURG",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGVTALRM",
  "SIGPROF",
  "SIGWINCH",
  "SIGIO",
  "SIGPWR",
  "SIGSYS",
];

/**
 * Linux x86-64 signal name of number `signo`.
 * @throws {InvalidArgumentError} for numbers outside 1..31
 */
export function signalName(signo: number): Deno.Signal {
  const name = SIGNALS[signo - 1];
  if (!name) throw new InvalidArgumentError(`Unknown signal number ${signo}`);
  return name;
}

/** Linux x86-64 number of signal `name` (0 when unknown). */
export function signalNumber(name: string): number {
  return SIGNALS.indexOf(name as Deno.Signal) + 1;
}
