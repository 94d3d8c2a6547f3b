/**
 * The stdin copy both runtimes run for a process: containerd's stdin FIFO
 * read in chunks into a sink (the pipe or pty of a host process, or the
 * agent's WriteStdin for a process in the VM).
 * @module
 */
import { closeFd } from "../ffi/libc.ts";
import { openFifoWriterNow } from "../ffi/fdpass.ts";
import { parseStdioUri } from "./stdio_uri.ts";

/** Bytes read from the stdin FIFO per read call. */
const STDIN_CHUNK = 32 * 1024;

/**
 * Copies a process's stdin from containerd's FIFO into `sink` until EOF or
 * {@link StdinCopy.close}, which may come before the FIFO's open returned
 * (containerd has not opened its end yet) or after; `onEnd` runs once the
 * copy stopped either way.
 */
export class StdinCopy {
  #file: Deno.FsFile | undefined;
  #closed = false;
  readonly #path: string;

  constructor(path: string, sink: (data: Uint8Array) => Promise<void>, onEnd: () => void) {
    const fifo = parseStdioUri(path).path;
    this.#path = fifo;
    (async () => {
      try {
        const f = await Deno.open(fifo, { read: true });
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

  /** Stops the copy (once); a pending open is released without ever blocking. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#file?.close();
    } catch {
      // closed by the copy loop
    }
    if (!this.#file) {
      // Still waiting in open(): a writer of our own lets it return (never blocks).
      const fd = openFifoWriterNow(this.#path);
      if (fd >= 0) closeFd(fd);
    }
  }
}
