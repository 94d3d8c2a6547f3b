/**
 * Serialises frame writes on one connection. Frames queued while a write is
 * in flight are coalesced into one write, which matters when many calls
 * share a connection. Writing is fire-and-forget: the first socket error is
 * reported once through `onError` and every later frame is dropped.
 * @module
 */

/** The minimal writing side of a connection (Deno.Conn satisfies it). */
export interface ByteWriter {
  write(p: Uint8Array): Promise<number>;
}

const COALESCE_LIMIT = 256 * 1024;

/** Ordered, coalescing frame writer. */
export class FrameWriter {
  #sink: ByteWriter;
  #onError: (err: unknown) => void;
  #queue: Uint8Array[] = [];
  #flushing = false;
  #failed = false;
  #idle: (() => void)[] = [];

  constructor(sink: ByteWriter, onError: (err: unknown) => void) {
    this.#sink = sink;
    this.#onError = onError;
  }

  /** Queues one encoded frame. */
  write(frame: Uint8Array): void {
    if (this.#failed) return;
    this.#queue.push(frame);
    if (!this.#flushing) this.#flush();
  }

  /** Resolves once every frame queued so far has been handed to the socket (or writing failed). */
  flushed(): Promise<void> {
    if (!this.#flushing) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    while (this.#queue.length > 0 && !this.#failed) {
      let buf: Uint8Array;
      if (this.#queue.length === 1) {
        buf = this.#queue.pop()!;
      } else {
        let size = 0;
        let count = 0;
        while (count < this.#queue.length && (count === 0 || size < COALESCE_LIMIT)) {
          size += this.#queue[count].length;
          count++;
        }
        buf = new Uint8Array(size);
        let off = 0;
        for (const frame of this.#queue.splice(0, count)) {
          buf.set(frame, off);
          off += frame.length;
        }
      }
      try {
        // A socket usually takes the whole buffer at once: no view is made then.
        let off = await this.#sink.write(buf);
        while (off < buf.length) off += await this.#sink.write(buf.subarray(off));
      } catch (err) {
        this.#failed = true;
        this.#queue = [];
        this.#onError(err);
      }
    }
    this.#flushing = false;
    if (this.#idle.length > 0) { for (const resolve of this.#idle.splice(0)) resolve(); }
  }
}
