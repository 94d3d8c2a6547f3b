/**
 * One VMM child process: spawned (inside a network namespace through
 * `nsenter` when asked, since Deno cannot setns between fork and exec), its
 * stdout and stderr read line by line into the log, the last stderr lines
 * kept for error messages, and its exit turned into a {@link VmExit}.
 * @module
 */
import { UnavailableError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import { identify, type ProcessIdentity, processStartTime } from "../persist/process_identity.ts";
import type { VmExit } from "./hypervisor.ts";

const TAIL_LINES = 20;

/** Options of {@link VmmProcess.spawn}. */
interface VmmSpawnOptions {
  cmd: string;
  args: string[];
  /** Network namespace to run in; none = the caller's. */
  netnsPath?: string;
  log: Logger;
  /** Name used in messages ("Firecracker", "QEMU", …). */
  name: string;
  /** How stdout lines are logged: a guest console (debug) or VMM output (info). */
  stdoutIs: "console" | "output";
}

/** A running (or exited) VMM process. */
export class VmmProcess {
  readonly pid: number;
  /** Start time of the process, to recognise it later (see cleanup_state.ts). */
  readonly startTime: string | null;
  /** Resolves once the process has exited and its output is drained. */
  readonly exit: Promise<VmExit>;
  #exited = false;
  readonly #child: Deno.ChildProcess;
  readonly #tail: string[] = [];
  readonly #name: string;

  private constructor(child: Deno.ChildProcess, o: VmmSpawnOptions) {
    this.#child = child;
    this.#name = o.name;
    this.pid = child.pid;
    this.startTime = processStartTime(child.pid);
    const drained = Promise.all([
      this.#pump(
        child.stdout,
        (l) =>
          o.stdoutIs === "console"
            ? o.log.debug("vm console: {line}", { line: l })
            : o.log.info("{name}: {line}", { name: o.name, line: l }),
      ),
      this.#pump(child.stderr, (l) => {
        o.log.warn("{name} stderr: {line}", { name: o.name, line: l });
        this.#tail.push(l);
        if (this.#tail.length > TAIL_LINES) this.#tail.shift();
      }),
    ]);
    this.exit = child.status.then(async (s) => {
      this.#exited = true;
      await drained;
      o.log.info("{name} pid {pid} exited (code {code}, signal {signal})", {
        name: o.name,
        pid: child.pid,
        code: s.code,
        signal: s.signal,
      });
      return { code: s.signal ? null : s.code, signal: s.signal ?? null };
    });
  }

  /** Starts the VMM. */
  static spawn(o: VmmSpawnOptions): VmmProcess {
    const cmd = o.netnsPath ? "nsenter" : o.cmd;
    const args = o.netnsPath ? [`--net=${o.netnsPath}`, "--", o.cmd, ...o.args] : o.args;
    o.log.debug("spawning {cmd} {args}", { cmd, args: args.join(" ") });
    const child = new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
      .spawn();
    return new VmmProcess(child, o);
  }

  /**
   * The VMM's identity now (pid + start time + executable), for state.json;
   * null once it has exited. Read after start, not at spawn: until `nsenter`
   * has exec'd the VMM, the executable is still nsenter's.
   */
  identity(): ProcessIdentity | null {
    if (this.#exited) return null;
    const id = identify(this.pid);
    return id && id.start_time === this.startTime ? id : null;
  }

  /** Whether the process has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  /** The last stderr lines, joined, for error messages. */
  tail(): string {
    return this.#tail.join("; ") || "(no output)";
  }

  /** The error that says the VMM died, with its last words. */
  diedError(what: string, s: VmExit): UnavailableError {
    return new UnavailableError(
      `${this.#name} of ${what} exited (code ${s.code}, signal ${s.signal}): ${this.tail()}`,
    );
  }

  /** Runs `p`, failing at once with {@link diedError} if the VMM exits first. */
  async whileAlive<T>(p: Promise<T>, what: string): Promise<T> {
    const died = this.exit.then((s) => {
      throw this.diedError(what, s);
    });
    return await Promise.race([p, died]);
  }

  /** Sends SIGKILL (no-op once exited) and waits for the exit. */
  async kill(): Promise<VmExit> {
    if (!this.#exited) {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* exited meanwhile */ }
    }
    return await this.exit;
  }

  async #pump(stream: ReadableStream<Uint8Array>, line: (l: string) => void): Promise<void> {
    let rest = "";
    const dec = new TextDecoder();
    const emit = (raw: string) => {
      const l = raw.replace(/\r$/, "");
      if (l) line(l);
    };
    try {
      for await (const chunk of stream) {
        const lines = (rest + dec.decode(chunk, { stream: true })).split("\n");
        rest = lines.pop()!;
        lines.forEach(emit);
      }
    } catch { /* the pipe broke with the process */ }
    emit(rest);
  }
}
