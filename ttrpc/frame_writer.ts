/**
 * Serialises frame writes on one connection. Frames queued while a write is
 * in flight are coalesced into one write, which matters when many calls
 * share a connection.
 * @module
 */

/** The minimal writing side of a connection (Deno.Conn satisfies it). */
export interface ByteWriter {
  write(p: Uint8Array): Promise<number>;
}

const COALESCE_LIMIT = 256 * 1024;

interface Pending {
  frame: Uint8Array;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Ordered, coalescing writer; after the first write error every write rejects with it. */
export class FrameWriter {
  #sink: ByteWriter;
  #queue: Pending[] = [];
  #flushing = false;
  #error: unknown = undefined;

  constructor(sink: ByteWriter) {
    this.#sink = sink;
  }

  /** Queues one encoded frame; resolves once it has been handed to the socket. */
  write(frame: Uint8Array): Promise<void> {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.#queue.push({ frame, resolve, reject });
      if (!this.#flushing) this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    while (this.#queue.length > 0) {
      let size = 0;
      let count = 0;
      while (count < this.#queue.length && (count === 0 || size < COALESCE_LIMIT)) {
        size += this.#queue[count].frame.length;
        count++;
      }
      const batch = this.#queue.splice(0, count);
      let buf: Uint8Array;
      if (count === 1) {
        buf = batch[0].frame;
      } else {
        buf = new Uint8Array(size);
        let off = 0;
        for (const p of batch) {
          buf.set(p.frame, off);
          off += p.frame.length;
        }
      }
      try {
        await this.#writeAll(buf);
        for (const p of batch) p.resolve();
      } catch (err) {
        this.#error = err;
        for (const p of batch) p.reject(err);
        for (const p of this.#queue.splice(0)) p.reject(err);
      }
    }
    this.#flushing = false;
  }

  async #writeAll(buf: Uint8Array): Promise<void> {
    let off = 0;
    while (off < buf.length) off += await this.#sink.write(buf.subarray(off));
  }
}
