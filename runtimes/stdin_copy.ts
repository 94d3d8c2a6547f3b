/**
 * The stdin copy both runtimes run for a process: containerd's stdin FIFO
 * read in chunks into a sink (the pipe or pty of a host process, or the
 * agent's WriteStdin for a process in the VM).
 * @module
 */
import { closeFd } from "../ffi/fd.ts";
import { openFifoWriterNow } from "../ffi/fdpass.ts";
import { parseStdioUri } from "./stdio_uri.ts";

/** Bytes read from the stdin FIFO per read call. */
const STDIN_CHUNK = 32 * 1024;
/**
 * How long {@link StdinCopy.finish} lets the copy drain what the client
 * wrote before its CloseIO: the FIFO reaches EOF at once when the client
 * closed its end, as containerd's clients do before CloseIO.
 */
const FINISH_GRACE_MS = 2000;
/** How often, and how many times, close() tries to release an open still on its way. */
const RELEASE_RETRY_MS = 10;
const RELEASE_ATTEMPTS = 1000;

/**
 * Copies a process's stdin from containerd's FIFO into `sink` until EOF or
 * {@link StdinCopy.close}, which may come before the FIFO's open returned
 * (containerd has not opened its end yet) or after; `onEnd` runs once the
 * copy stopped either way.
 */
export class StdinCopy {
  #file: Deno.FsFile | undefined;
  #closed = false;
  /** True while the FIFO's open(2) has not returned. */
  #opening = true;
  #finishTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #path: string;

  constructor(path: string, sink: (data: Uint8Array) => Promise<void>, onEnd: () => void) {
    const fifo = parseStdioUri(path).path;
    this.#path = fifo;
    (async () => {
      try {
        let f: Deno.FsFile;
        try {
          f = await Deno.open(fifo, { read: true });
        } finally {
          this.#opening = false;
        }
        if (this.#closed) {
          f.close();
          return;
        }
        this.#file = f;
        const buf = new Uint8Array(STDIN_CHUNK);
        for (;;) {
          const n = await f.read(buf);
          if (n === null || this.#closed) break;
          await sink(buf.slice(0, n));
        }
      } catch {
        // the FIFO or the process went away: stdin simply ends
      } finally {
        this.close();
        onEnd();
      }
    })();
  }

  /**
   * CloseIO: the client is done writing. What it wrote before may still sit
   * in the FIFO (under load the copy can lag behind the client's close and
   * its CloseIO), so the copy goes on to the FIFO's EOF and ends there, as
   * containerd's runc shim lets its copy drain; a writer that still holds the
   * FIFO open gets {@link FINISH_GRACE_MS}, then the copy is stopped.
   */
  finish(): void {
    if (this.#closed) return;
    if (!this.#file) {
      // Never opened: nothing was read, and nothing waits in a FIFO nobody reads.
      this.close();
      return;
    }
    const timer = setTimeout(() => this.close(), FINISH_GRACE_MS);
    Deno.unrefTimer(timer);
    this.#finishTimer = timer;
  }

  /** Stops the copy (once); a pending open is released without ever blocking. */
  close(): void {
    if (this.#finishTimer !== undefined) clearTimeout(this.#finishTimer);
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#file?.close();
    } catch {
      // closed by the copy loop
    }
    if (!this.#file) this.#releasePendingOpen(RELEASE_ATTEMPTS);
  }

  /**
   * A copy still waiting in open(2) returns once a writer opens the FIFO, so
   * open and close one of our own (non-blocking). The reader's open runs on
   * another thread and may not have reached the kernel yet: then there is no
   * reader, the writer's open fails (ENXIO), and it is tried again shortly.
   */
  #releasePendingOpen(attempts: number): void {
    if (!this.#opening) return;
    const fd = openFifoWriterNow(this.#path);
    if (fd >= 0) {
      closeFd(fd);
      return;
    }
    if (attempts > 1) {
      setTimeout(() => this.#releasePendingOpen(attempts - 1), RELEASE_RETRY_MS);
    }
  }
}
