/**
 * The shim's log FIFO (`<bundle>/log`) as a writer that never blocks the
 * event loop. A write-only open(2) of a FIFO blocks until a reader opens it,
 * and a full FIFO blocks write(2); either would stop the whole server (no
 * RPC answered, not even Connect). So the FIFO is opened with O_NONBLOCK
 * (ENXIO while nobody reads), writes are non-blocking too (a line that does
 * not fit is dropped, never waited for), and while no reader holds the FIFO
 * lines go to the fallback (stderr) and the open is retried on a timer.
 * @module
 */
import { SysError } from "../ffi/errno.ts";
import { closeFd, O, openFd, writeFd } from "../ffi/fd.ts";

const ENXIO = 6;
const EPIPE = 32;
const EAGAIN = 11;
/** How often a FIFO without a reader is tried again. */
const LOG_FIFO_RETRY_MS = 500;

/** Something lines can be written to synchronously (the log sink's writer). */
interface SyncWriter {
  writeSync(p: Uint8Array): number;
}

/** Options of {@link LogFifoWriter}. */
interface LogFifoOptions {
  /** Where lines go while no reader holds the FIFO (stderr by default). */
  fallback?: SyncWriter;
  retryMs?: number;
}

/** A writer for a log FIFO that never blocks; see the module doc. */
export class LogFifoWriter implements SyncWriter {
  #fd: number | null = null;
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #fallback: SyncWriter;
  readonly #retryMs: number;
  /** Lines dropped because the FIFO was full (its reader is not reading). */
  dropped = 0;

  constructor(readonly path: string, o: LogFifoOptions = {}) {
    this.#fallback = o.fallback ?? Deno.stderr;
    this.#retryMs = o.retryMs ?? LOG_FIFO_RETRY_MS;
    if (!this.#tryOpen()) this.#retryLater();
  }

  /** Whether a reader held the FIFO at the last open or write. */
  get connected(): boolean {
    return this.#fd !== null;
  }

  /** Writes `p` to the FIFO without blocking, or to the fallback while there is no reader. */
  writeSync(p: Uint8Array): number {
    if (this.#fd === null) return this.#fallback.writeSync(p);
    try {
      writeFd(this.#fd, p as Uint8Array<ArrayBuffer>);
      return p.length;
    } catch (e) {
      const code = e instanceof SysError ? e.errno : -1;
      if (code === EAGAIN) {
        this.dropped++;
        return p.length;
      }
      // EPIPE (the reader went away) or another failure: back to the fallback and retrying.
      this.#closeFd();
      this.#retryLater();
      if (code === EPIPE) return this.#fallback.writeSync(p);
      throw e;
    }
  }

  /** Stops retrying and closes the FIFO. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#closeFd();
  }

  #tryOpen(): boolean {
    try {
      this.#fd = openFd(this.path, O.WRONLY | O.NONBLOCK);
      return true;
    } catch (e) {
      // ENXIO: no reader yet. ENOENT and the like: no FIFO; keep trying (cheap).
      if (!(e instanceof SysError) || e.errno !== ENXIO) this.#fd = null;
      return false;
    }
  }

  #retryLater(): void {
    if (this.#timer !== undefined) return;
    const timer = setInterval(() => {
      if (this.#fd === null && !this.#tryOpen()) return;
      clearInterval(timer);
      this.#timer = undefined;
    }, this.#retryMs);
    this.#timer = timer;
    // A log FIFO nobody reads must not keep the process alive.
    Deno.unrefTimer(timer);
  }

  #closeFd(): void {
    if (this.#fd === null) return;
    try {
      closeFd(this.#fd);
    } catch { /* closed already */ }
    this.#fd = null;
  }
}
