/**
 * Drives an OCI runtime binary (runc by default, crun works the same way)
 * with a state root of our own. Each call is one short-lived process; its
 * errors come from the runtime's JSON log file so that the container's
 * stdio (which the runtime passes through) stays clean.
 * @module
 */
import { FailedPreconditionError, InternalError, NotFoundError } from "../../common/errors.ts";

/** Stdio handed to `create`/`exec`: Deno pipes, or nothing (terminal or unset). */
type StdioMode = "piped" | "null";

/** The stdio choice for one process. */
export interface ProcessStdio {
  stdin: StdioMode;
  stdout: StdioMode;
  stderr: StdioMode;
}

/** The pipes of a started runtime command that the container process inherited. */
export interface InheritedPipes {
  stdin: WritableStream<Uint8Array> | null;
  stdout: ReadableStream<Uint8Array> | null;
  stderr: ReadableStream<Uint8Array> | null;
}

/** Options of {@link OciRuntime.create} and {@link OciRuntime.exec}. */
interface SpawnOptions {
  pidFile: string;
  consoleSocket?: string;
  stdio: ProcessStdio;
}

/** `<runtime> state` output (the fields we use). */
interface RuntimeState {
  id: string;
  pid: number;
  status: string;
  bundle: string;
}

/** One OCI runtime binary with its own state root. */
export class OciRuntime {
  constructor(
    /** The runtime binary: a name looked up in PATH, or a path. */
    readonly binary: string,
    /** The runtime's state directory (`--root`). */
    readonly root: string,
    /** The JSON log file the runtime writes its errors to (`--log`). */
    readonly logFile: string,
  ) {}

  #globalArgs(): string[] {
    return ["--root", this.root, "--log", this.logFile, "--log-format", "json"];
  }

  /**
   * `create`: sets the container up; its init waits for `start`. Returns the
   * pipes the container's init inherited (for piped stdio).
   */
  async create(id: string, bundle: string, opts: SpawnOptions): Promise<InheritedPipes> {
    const args = ["create", "--bundle", bundle, "--pid-file", opts.pidFile];
    if (opts.consoleSocket) args.push("--console-socket", opts.consoleSocket);
    args.push(id);
    return await this.#spawnKeepingPipes(args, opts.stdio, `create container "${id}"`);
  }

  /** `exec --detach` of the OCI process in `processFile` (JSON). */
  async exec(id: string, processFile: string, opts: SpawnOptions): Promise<InheritedPipes> {
    const args = ["exec", "--detach", "--pid-file", opts.pidFile, "--process", processFile];
    if (opts.consoleSocket) args.push("--console-socket", opts.consoleSocket);
    args.push(id);
    return await this.#spawnKeepingPipes(args, opts.stdio, `exec in container "${id}"`);
  }

  /** `start` of a created container. */
  async start(id: string): Promise<void> {
    await this.#run(["start", id], `start container "${id}"`);
  }

  /** `kill [--all] <id> <signal>`. */
  async kill(id: string, signal: number, all: boolean): Promise<void> {
    const args = ["kill", ...(all ? ["--all"] : []), id, String(signal)];
    await this.#run(args, `signal container "${id}"`);
  }

  async pause(id: string): Promise<void> {
    await this.#run(["pause", id], `pause container "${id}"`);
  }

  async resume(id: string): Promise<void> {
    await this.#run(["resume", id], `resume container "${id}"`);
  }

  /** `update --resources <file>` (OCI LinuxResources JSON). */
  async update(id: string, resourcesFile: string): Promise<void> {
    await this.#run(["update", "--resources", resourcesFile, id], `update container "${id}"`);
  }

  /** `delete [--force]`; a container the runtime does not know is not an error. */
  async delete(id: string, force: boolean): Promise<void> {
    try {
      await this.#run(["delete", ...(force ? ["--force"] : []), id], `delete container "${id}"`);
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
  }

  /** `state`: the runtime's view of the container. */
  async state(id: string): Promise<RuntimeState> {
    const out = await this.#run(["state", id], `read the state of container "${id}"`);
    return JSON.parse(out) as RuntimeState;
  }

  /** `ps --format json`: the pids in the container's cgroup. */
  async ps(id: string): Promise<number[]> {
    const out = await this.#run(
      ["ps", "--format", "json", id],
      `list the processes of container "${id}"`,
    );
    return (JSON.parse(out) as number[] | null) ?? [];
  }

  async #run(args: string[], what: string): Promise<string> {
    const out = await new Deno.Command(this.binary, {
      args: [...this.#globalArgs(), ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (out.success) return new TextDecoder().decode(out.stdout);
    throw this.#failure(what, new TextDecoder().decode(out.stderr), out.code);
  }

  async #spawnKeepingPipes(
    args: string[],
    stdio: ProcessStdio,
    what: string,
  ): Promise<InheritedPipes> {
    const child = new Deno.Command(this.binary, {
      args: [...this.#globalArgs(), ...args],
      stdin: stdio.stdin,
      stdout: stdio.stdout,
      stderr: stdio.stderr,
    }).spawn();
    const status = await child.status;
    const pipes: InheritedPipes = {
      stdin: stdio.stdin === "piped" ? child.stdin : null,
      stdout: stdio.stdout === "piped" ? child.stdout : null,
      stderr: stdio.stderr === "piped" ? child.stderr : null,
    };
    if (!status.success) {
      await closePipes(pipes);
      throw this.#failure(what, "", status.code);
    }
    return pipes;
  }

  #failure(what: string, stderr: string, code: number): Error {
    const reason = this.#lastLogError() || stderr.trim() || `exit status ${code}`;
    const msg = `Cannot ${what}: ${this.binary}: ${reason}`;
    if (/does not exist|not found|container .* not exist/i.test(reason)) {
      return new NotFoundError(msg);
    }
    if (
      /not running|not paused|is paused|already|cannot .* stopped|container is stopped/i.test(
        reason,
      )
    ) {
      return new FailedPreconditionError(msg);
    }
    return new InternalError(msg);
  }

  /** The last error-level message the runtime wrote to its log, consuming the log. */
  #lastLogError(): string {
    let text = "";
    try {
      text = Deno.readTextFileSync(this.logFile);
      Deno.truncateSync(this.logFile, 0);
    } catch {
      return "";
    }
    let last = "";
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      try {
        const rec = JSON.parse(line) as { level?: string; msg?: string };
        if ((rec.level === "error" || rec.level === "fatal") && rec.msg) last = rec.msg;
      } catch {
        last = line.trim();
      }
    }
    return last;
  }
}

/** Closes whatever pipes a failed or finished process left open. */
async function closePipes(p: InheritedPipes): Promise<void> {
  await Promise.allSettled([
    p.stdin?.close(),
    p.stdout?.cancel(),
    p.stderr?.cancel(),
  ]);
}
