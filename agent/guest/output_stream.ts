/**
 * One output stream of a guest process (stdout or stderr) read in chunks the
 * way ReadStdout/ReadStderr want: each read returns at most `len` bytes,
 * blocks until data arrives, and returns an empty array at end of stream.
 * @module
 */

/** A pull-based reader over a byte stream, with leftovers kept between reads. */
export class OutputStream {
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #source: Promise<ReadableStream<Uint8Array> | null>;
  #leftover: Uint8Array | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  #ended = false;

  /** `source` resolves once the process has started (null: the stream does not exist). */
  constructor(source: Promise<ReadableStream<Uint8Array> | null>) {
    this.#source = source;
  }

  /** Reads up to `len` bytes (everything available when `len` is 0); empty at end of stream. */
  read(len: number): Promise<Uint8Array> {
    // Reads are served one at a time so concurrent callers never interleave a chunk.
    const next = this.#tail.then(() => this.#readOne(len));
    this.#tail = next.catch(() => {});
    return next;
  }

  async #readOne(len: number): Promise<Uint8Array> {
    if (this.#leftover === undefined) {
      if (this.#ended) return new Uint8Array();
      if (!this.#reader) {
        const stream = await this.#source;
        if (!stream) {
          this.#ended = true;
          return new Uint8Array();
        }
        this.#reader = stream.getReader();
      }
      const { value, done } = await this.#reader.read();
      if (done || !value) {
        this.#ended = true;
        return new Uint8Array();
      }
      this.#leftover = value;
    }
    const chunk = this.#leftover;
    if (len <= 0 || chunk.length <= len) {
      this.#leftover = undefined;
      return chunk;
    }
    this.#leftover = chunk.subarray(len);
    return chunk.subarray(0, len);
  }

  /** Stops reading; pending and later reads return end of stream. */
  async cancel(): Promise<void> {
    this.#ended = true;
    this.#leftover = undefined;
    if (this.#reader) {
      await this.#reader.cancel().catch(() => {});
    } else {
      const stream = await this.#source.catch(() => null);
      await stream?.cancel().catch(() => {});
    }
  }
}
