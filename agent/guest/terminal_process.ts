/**
 * A container process with a terminal. runc makes the pty only for a
 * detached process, sending its master over a console socket; the agent
 * then owns the master (output, input, window size) and, as child subreaper,
 * reaps the process itself. States as {@link GuestProcess}: created →
 * running → exited; stdout carries the terminal's output, stderr is empty.
 * @module
 */
import { FailedPreconditionError, InternalError } from "../../common/errors.ts";
import {
  acceptUnix,
  listenUnix,
  receiveFd,
  setWindowSize,
  writeAllAsync,
} from "../../ffi/fdpass.ts";
import { closeFd, readFdAsync } from "../../ffi/fd.ts";
import { pollReadable } from "../../ffi/poll.ts";
import { sendSignal, setChildSubreaper, tryReap } from "../../ffi/process.ts";
import { OutputStream } from "./output_stream.ts";
import type { ProcessState } from "./guest_process.ts";

/** How to start the detached runtime for one terminal process. */
interface TerminalCommand {
  cmd: string;
  /** Runtime arguments given the console socket path (e.g. `runc run -d --console-socket S ...`). */
  args: (consoleSocket: string) => string[];
  /** Where the runtime writes the process's pid. */
  pidFile: string;
  /** The console socket path to listen on. */
  socketPath: string;
}

let subreaper = false;

/** A terminal process of a container. */
export class TerminalProcess {
  readonly execId: string;
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  #command: TerminalCommand;
  #state: ProcessState = "created";
  #master = -1;
  #pid = 0;
  #stdinOpen = true;
  #closing = false;
  #exitCode: number | undefined;
  #status: Promise<number>;
  #resolveStatus!: (code: number) => void;
  #started!: (stream: ReadableStream<Uint8Array> | null) => void;
  #pumpDone: Promise<void> = Promise.resolve();

  constructor(execId: string, command: TerminalCommand) {
    this.execId = execId;
    this.#command = command;
    const started = new Promise<ReadableStream<Uint8Array> | null>((r) => this.#started = r);
    this.stdout = new OutputStream(started);
    this.stderr = new OutputStream(Promise.resolve(null));
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

  /** The container process's pid once running. */
  get pid(): number | undefined {
    return this.#pid || undefined;
  }

  /**
   * Runs the runtime detached, takes the pty master it sends, and starts
   * following the process.
   * @throws {FailedPreconditionError} when already started
   * @throws {Error} with the runtime's message when it fails
   */
  async start(): Promise<void> {
    if (this.#state !== "created") {
      throw new FailedPreconditionError(
        `Cannot start process "${this.execId}": it is ${this.#state}`,
      );
    }
    if (!subreaper) {
      // The detached process is re-parented to us when runc exits: we reap it.
      setChildSubreaper();
      subreaper = true;
    }
    const { socketPath } = this.#command;
    Deno.mkdirSync(socketPath.slice(0, socketPath.lastIndexOf("/")), {
      recursive: true,
      mode: 0o700,
    });
    const listenFd = listenUnix(socketPath);
    try {
      const master = (async () => {
        const conn = await acceptUnix(listenFd);
        try {
          return await receiveFd(conn);
        } finally {
          closeFd(conn);
        }
      })();
      master.catch(() => {});
      const out = await new Deno.Command(this.#command.cmd, {
        args: this.#command.args(socketPath),
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!out.success) {
        // Release a still-waiting accept and any master sent before the failure.
        await Deno.connect({ transport: "unix", path: socketPath }).then((c) => c.close())
          .catch(() => {});
        await master.then(closeFd, () => {});
        this.#fail();
        throw new InternalError(
          `Cannot start terminal process "${this.execId}": ${
            new TextDecoder().decode(out.stderr).trim()
          }`,
        );
      }
      this.#master = await master;
    } finally {
      closeFd(listenFd);
      await Deno.remove(socketPath).catch(() => {});
    }
    this.#pid = parseInt(await Deno.readTextFile(this.#command.pidFile), 10);
    this.#state = "running";
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    this.#started(readable);
    this.#pumpDone = this.#pump(writable.getWriter());
    this.#watch();
  }

  #fail(): void {
    this.#started(null);
    this.#exit(255);
  }

  /** Copies terminal output until the pty hangs up (or the process is closed). */
  async #pump(w: WritableStreamDefaultWriter<Uint8Array>): Promise<void> {
    const buf = new Uint8Array(32 * 1024);
    try {
      while (!this.#closing) {
        const ready = await pollReadable([this.#master], 200);
        if (ready.length === 0) {
          if (this.#state === "exited") break; // exited and nothing left to read
          continue;
        }
        let n: number;
        try {
          n = await readFdAsync(this.#master, buf);
        } catch {
          break; // EIO: every slave holder is gone
        }
        if (n <= 0) break;
        await w.write(buf.slice(0, n));
      }
    } catch {
      // the reader went away (output cancelled on close)
    } finally {
      await w.close().catch(() => {});
    }
  }

  /** Polls for the process's exit (it is our child once runc has exited). */
  #watch(): void {
    const timer = setInterval(() => {
      let info;
      try {
        info = tryReap(this.#pid);
      } catch {
        info = null;
      }
      if (info === undefined) return;
      clearInterval(timer);
      this.#exit(info === null ? 255 : info.status);
    }, 100);
  }

  #exit(code: number): void {
    if (this.#state === "exited") return;
    this.#state = "exited";
    this.#exitCode = code;
    this.#resolveStatus(code);
  }

  /** Resolves with the exit status (128+signal for a signal death). */
  wait(): Promise<number> {
    return this.#status;
  }

  /**
   * Writes to the terminal.
   * @throws {FailedPreconditionError} when stdin is closed or the process is not running
   */
  async writeStdin(data: Uint8Array): Promise<number> {
    if (!this.#stdinOpen || this.#state !== "running") {
      throw new FailedPreconditionError(
        `Cannot write stdin of process "${this.execId}": stdin is closed`,
      );
    }
    await writeAllAsync(this.#master, new Uint8Array(data));
    return data.length;
  }

  /** Stops accepting input (the terminal itself stays, as with runc's shim). */
  closeStdin(): Promise<void> {
    this.#stdinOpen = false;
    return Promise.resolve();
  }

  /**
   * Sets the terminal's window size.
   * @throws {FailedPreconditionError} unless running
   */
  resize(columns: number, rows: number): void {
    if (this.#state !== "running") {
      throw new FailedPreconditionError(
        `Cannot resize process "${this.execId}": it is ${this.#state}`,
      );
    }
    setWindowSize(this.#master, columns, rows);
  }

  /** The pid signals go to. */
  targetPid(): Promise<number | undefined> {
    return Promise.resolve(this.pid);
  }

  /**
   * Sends signal `signo` to the process.
   * @throws {FailedPreconditionError} unless running
   */
  signal(signo: number): Promise<void> {
    if (this.#state !== "running") {
      throw new FailedPreconditionError(
        `Cannot signal process "${this.execId}": it is ${this.#state}`,
      );
    }
    sendSignal(this.#pid, signo);
    return Promise.resolve();
  }

  /** Stops the output pump and closes the pty master; the caller makes sure it exited. */
  async close(): Promise<void> {
    this.#closing = true;
    if (this.#state === "created") this.#fail();
    // Cancelling the output first releases a pump blocked on an unread chunk.
    await this.stdout.cancel();
    await this.#pumpDone.catch(() => {});
    if (this.#master >= 0) {
      closeFd(this.#master);
      this.#master = -1;
    }
  }
}
