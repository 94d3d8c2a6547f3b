/**
 * Moves a container process's stdio between containerd's FIFOs and the
 * process: either the pipes the process inherited from the OCI runtime
 * command, or the pty master received through the console socket. The
 * output FIFOs are opened read-write so that the process never sees EPIPE
 * while containerd is restarting (its reader comes back later).
 * @module
 */
import { UnimplementedError } from "../../common/errors.ts";
import { settleWithin } from "../../common/time.ts";
import { closeFd, readFdAsync } from "../../ffi/fd.ts";
import { setWindowSize, writeAllAsync } from "../../ffi/fdpass.ts";
import type { StdioPaths } from "../handler.ts";
import { openStdioOutput as openOutput } from "../stdio_uri.ts";
import { StdinCopy } from "../stdin_copy.ts";
import type { InheritedPipes } from "./oci_runtime.ts";

/** How long an exit waits for the output copies to drain (a leftover child may hold the pipe). */
const DRAIN_TIMEOUT_MS = 2000;

/** The stdio plumbing of one process. */
export interface ProcessIo {
  /** Resolves when all output reached containerd (or the drain gave up). */
  drained(): Promise<void>;
  /** Closes the process's stdin (CloseIO). */
  closeStdin(): void;
  /** Resizes the terminal; refused without one. */
  resize(width: number, height: number): void;
  /** Stops every copy and releases every fd. */
  close(): void;
}

/** Stdio through the pipes the process inherited from the runtime command. */
export class PipeIo implements ProcessIo {
  readonly #copies: Promise<void>[] = [];
  readonly #outputs: Deno.FsFile[] = [];
  readonly #readers: ReadableStreamDefaultReader<Uint8Array>[] = [];
  #stdin: StdinCopy | undefined;
  #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;

  private constructor(readonly pipes: InheritedPipes) {}

  /** Starts copying between `paths` and `pipes`. */
  static async open(pipes: InheritedPipes, paths: StdioPaths): Promise<PipeIo> {
    const io = new PipeIo(pipes);
    try {
      for (
        const [src, uri] of [[pipes.stdout, paths.stdout], [pipes.stderr, paths.stderr]] as const
      ) {
        if (!src || !uri) continue;
        const out = await openOutput(uri);
        io.#outputs.push(out);
        const reader = src.getReader();
        io.#readers.push(reader);
        io.#copies.push(copyOut(reader, out));
      }
      if (pipes.stdin) {
        const writer = pipes.stdin.getWriter();
        io.#writer = writer;
        if (paths.stdin) {
          io.#stdin = new StdinCopy(paths.stdin, (d) => writer.write(d), () => io.#closeWriter());
        } else {
          io.#closeWriter();
        }
      }
      return io;
    } catch (e) {
      io.close();
      throw e;
    }
  }

  #closeWriter(): void {
    const w = this.#writer;
    this.#writer = undefined;
    w?.close().catch(() => {});
  }

  drained(): Promise<void> {
    return settleWithin(Promise.all(this.#copies), DRAIN_TIMEOUT_MS);
  }

  closeStdin(): void {
    // With a copy, the process's stdin closes when the copy has drained (its onEnd).
    if (this.#stdin) this.#stdin.finish();
    else this.#closeWriter();
  }

  resize(): void {
    throw new UnimplementedError("Cannot resize: the process has no terminal");
  }

  close(): void {
    this.#stdin?.close();
    this.#closeWriter();
    // The copies hold the readers: cancelling through them releases the pipes.
    for (const r of this.#readers) r.cancel().catch(() => {});
    for (const f of this.#outputs) {
      try {
        f.close();
      } catch {
        // the copy closed it already
      }
    }
  }
}

/**
 * Copies a process's output pipe into its containerd FIFO chunk by chunk with
 * FsFile.write, then closes the FIFO. Not `pipeTo(out.writable)`: on a FIFO
 * Deno's file writable held the chunks back while the process ran (they came
 * out at close), so CRI log files stayed empty for a running container.
 */
async function copyOut(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  out: Deno.FsFile,
): Promise<void> {
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      let off = 0;
      while (off < value.length) off += await out.write(value.subarray(off));
    }
  } catch {
    // The FIFO or the pipe closed under us (close() or containerd gone).
  } finally {
    try {
      out.close();
    } catch {
      // close() closed it already
    }
  }
}

/** Stdio through a pty master (terminal mode); stderr is merged by the terminal. */
export class ConsoleIo implements ProcessIo {
  #master: number;
  #stdin: StdinCopy | undefined;
  #output: Deno.FsFile | undefined;
  readonly #copy: Promise<void>;

  private constructor(master: number, output: Deno.FsFile | undefined, stdinPath: string) {
    this.#master = master;
    this.#output = output;
    this.#copy = this.#copyOut();
    if (stdinPath) {
      this.#stdin = new StdinCopy(stdinPath, async (d) => {
        if (this.#master >= 0) await writeAllAsync(this.#master, d as Uint8Array<ArrayBuffer>);
      }, () => {});
    }
  }

  /** Takes ownership of `master` and starts copying. */
  static async open(master: number, paths: StdioPaths): Promise<ConsoleIo> {
    try {
      const out = paths.stdout ? await openOutput(paths.stdout) : undefined;
      return new ConsoleIo(master, out, paths.stdin);
    } catch (e) {
      closeFd(master);
      throw e;
    }
  }

  async #copyOut(): Promise<void> {
    const buf = new Uint8Array(32 * 1024);
    try {
      for (;;) {
        const fd = this.#master;
        if (fd < 0) break;
        // EIO once the last slave closes: the process is gone.
        const n = await readFdAsync(fd, buf);
        if (n === 0) break;
        if (this.#output) {
          const chunk = buf.subarray(0, n);
          let off = 0;
          while (off < chunk.length) off += await this.#output.write(chunk.subarray(off));
        }
      }
    } catch {
      // EIO: the terminal closed
    } finally {
      try {
        this.#output?.close();
      } catch {
        // already closed
      }
      this.#output = undefined;
    }
  }

  drained(): Promise<void> {
    return settleWithin(this.#copy, DRAIN_TIMEOUT_MS);
  }

  closeStdin(): void {
    this.#stdin?.finish();
  }

  resize(width: number, height: number): void {
    if (this.#master < 0) return;
    setWindowSize(this.#master, width, height);
  }

  close(): void {
    this.#stdin?.close();
    const fd = this.#master;
    this.#master = -1;
    if (fd >= 0) {
      try {
        closeFd(fd);
      } catch {
        // already closed
      }
    }
  }
}
