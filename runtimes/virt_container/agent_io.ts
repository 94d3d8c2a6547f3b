/**
 * The stdio of a process in the VM, moved between containerd's FIFOs and
 * the agent: ReadStdout/ReadStderr loops (empty data = EOF) into the
 * output FIFOs, the stdin FIFO into WriteStdin, and CloseStdin when stdin
 * ends or containerd asks (CloseIO). Output FIFOs are opened read-write so
 * the copy never fails while containerd is away.
 * @module
 */
import { getLogger } from "../../common/log.ts";
import { settleWithin } from "../../common/time.ts";
import type { StdioPaths } from "../handler.ts";
import { StdinCopy } from "../stdin_copy.ts";
import { openStdioOutput as openOutput } from "../stdio_uri.ts";
import { type AgentApi, NO_DEADLINE } from "./agent_api.ts";
import { writeAll } from "../../common/io.ts";

const log = getLogger("runtimes.virt_container.io");

/** Bytes asked for per read call. */
const READ_CHUNK = 32 * 1024;
/** How long an exit waits for output to drain. */
const DRAIN_TIMEOUT_MS = 5000;

/** The agent-side stdio of one process. */
export class AgentIo {
  readonly #copies: Promise<void>[] = [];
  readonly #files: Deno.FsFile[] = [];
  #stdin: StdinCopy | undefined;
  #stdinClosed = false;
  #closed = false;

  private constructor(
    readonly agent: AgentApi,
    readonly containerId: string,
    readonly execId: string,
  ) {}

  /**
   * Starts the copies for `paths`. Call after the process was created in
   * the guest (its streams exist) and before it starts.
   */
  static async open(
    agent: AgentApi,
    containerId: string,
    execId: string,
    paths: StdioPaths,
  ): Promise<AgentIo> {
    const io = new AgentIo(agent, containerId, execId);
    try {
      if (paths.stdout) await io.#output(paths.stdout, "stdout");
      // With a terminal the guest merges stderr into the pty.
      if (paths.stderr && !paths.terminal) await io.#output(paths.stderr, "stderr");
    } catch (e) {
      io.close();
      throw e;
    }
    if (paths.stdin) io.#startStdin(paths.stdin);
    return io;
  }

  async #output(uri: string, which: "stdout" | "stderr"): Promise<void> {
    const f = await openOutput(uri);
    this.#files.push(f);
    const read = which === "stdout"
      ? this.agent.readStdout.bind(this.agent)
      : this.agent.readStderr.bind(this.agent);
    this.#copies.push((async () => {
      try {
        while (!this.#closed) {
          const r = await read({
            containerId: this.containerId,
            execId: this.execId,
            len: READ_CHUNK,
          }, NO_DEADLINE);
          if (r.data.length === 0) break;
          await writeAll(f, r.data);
        }
      } catch (e) {
        if (!this.#closed) {
          log.debug("{which} of {cid}/{eid} ended: {e}", {
            which,
            cid: this.containerId,
            eid: this.execId,
            e: String(e),
          });
        }
      } finally {
        // The stream ended: close our end of the FIFO so containerd's reader
        // sees EOF, as the runc shim does. CRI's ExecSync answers only after
        // that EOF; held open until the exec's delete, ExecSync never did.
        const i = this.#files.indexOf(f);
        if (i >= 0) {
          this.#files.splice(i, 1);
          try {
            f.close();
          } catch { /* closed */ }
        }
      }
    })());
  }

  #startStdin(uri: string): void {
    // When the copy ends (EOF, or the FIFO or the process went away), the guest's stdin closes.
    this.#stdin = new StdinCopy(uri, (data) => this.#writeStdin(data), () => this.#endStdin());
  }

  /** Writes `data` to the process's stdin in the guest (the agent may take it in parts). */
  async #writeStdin(data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) {
      const w = await this.agent.writeStdin({
        containerId: this.containerId,
        execId: this.execId,
        data: data.slice(off),
      }, NO_DEADLINE);
      off += w.len || data.length - off;
    }
  }

  /**
   * CloseIO: with a copy, it drains what the client wrote first and the
   * guest's stdin closes at its end (StdinCopy.finish); without one, now.
   */
  async closeStdin(): Promise<void> {
    if (this.#stdin && !this.#stdinClosed) this.#stdin.finish();
    else await this.#endStdin();
  }

  /** Closes the process's stdin in the guest (once). */
  async #endStdin(): Promise<void> {
    if (this.#stdinClosed) return;
    this.#stdinClosed = true;
    this.#stdin?.close();
    if (this.#closed) return;
    await this.agent.closeStdin({ containerId: this.containerId, execId: this.execId })
      .catch((e) =>
        log.debug("CloseStdin of {cid}/{eid}: {e}", {
          cid: this.containerId,
          eid: this.execId,
          e: String(e),
        })
      );
  }

  /** Resolves when the output reached containerd, or after {@link DRAIN_TIMEOUT_MS}. */
  drained(): Promise<void> {
    return settleWithin(Promise.all(this.#copies), DRAIN_TIMEOUT_MS);
  }

  /** Stops everything and closes every file. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stdinClosed = true;
    this.#stdin?.close();
    for (const f of this.#files) {
      try {
        f.close();
      } catch { /* closed */ }
    }
    this.#files.length = 0;
  }
}
