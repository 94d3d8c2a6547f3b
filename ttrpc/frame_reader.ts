/**
 * Reassembles ttRPC frames from a byte stream. The declared length is checked
 * before anything is buffered: an oversized frame's data is read and dropped
 * (as Go ttrpc does), so the stream stays in sync and the caller can answer
 * on that stream id.
 * @module
 */
import { type Frame, type FrameHeader, HEADER_SIZE, MAX_DATA_LENGTH, readHeader } from "./frame.ts";

/** The minimal reading side of a connection (Deno.Conn satisfies it). */
export interface ByteReader {
  read(p: Uint8Array): Promise<number | null>;
}

/** A frame whose declared data length exceeded MAX_DATA_LENGTH; its data was discarded. */
export interface OversizedFrame extends FrameHeader {
  oversized: true;
}

/** The stream ended in the middle of a frame. */
export class TruncatedFrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TruncatedFrameError";
  }
}

const INITIAL_BUFFER = 64 * 1024;

/** Incremental frame parser over a ByteReader. Not safe for concurrent `next()` calls. */
export class FrameReader {
  #source: ByteReader;
  #buf = new Uint8Array(INITIAL_BUFFER);
  #start = 0;
  #end = 0;

  constructor(source: ByteReader) {
    this.#source = source;
  }

  /**
   * Returns the next frame, an OversizedFrame marker, or null at a clean end of stream.
   * @throws {TruncatedFrameError} when the stream ends inside a frame
   */
  async next(): Promise<Frame | OversizedFrame | null> {
    if (!await this.#fill(HEADER_SIZE, true)) return null;
    const header = readHeader(this.#buf, this.#start);
    this.#start += HEADER_SIZE;
    if (header.length > MAX_DATA_LENGTH) {
      await this.#discard(header.length);
      return { ...header, oversized: true };
    }
    await this.#fill(header.length, false);
    const data = this.#buf.slice(this.#start, this.#start + header.length);
    this.#start += header.length;
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
      // Give back the memory of a large frame once it is consumed.
      if (this.#buf.length > INITIAL_BUFFER) this.#buf = new Uint8Array(INITIAL_BUFFER);
    }
    return { ...header, data };
  }

  /** Ensures `n` buffered bytes; false only for a clean EOF with nothing buffered when allowed. */
  async #fill(n: number, eofAtBoundaryOk: boolean): Promise<boolean> {
    if (this.#end - this.#start >= n) return true;
    if (this.#buf.length - this.#start < n) {
      // Compact in place when the frame fits, else grow to exactly the frame size.
      const next = n <= this.#buf.length ? this.#buf : new Uint8Array(n);
      next.set(this.#buf.subarray(this.#start, this.#end), 0);
      this.#end -= this.#start;
      this.#start = 0;
      this.#buf = next;
    }
    while (this.#end - this.#start < n) {
      const got = await this.#source.read(this.#buf.subarray(this.#end));
      if (got === null) {
        if (eofAtBoundaryOk && this.#end === this.#start) return false;
        throw new TruncatedFrameError(
          `Cannot read ttrpc frame: stream ended after ${
            this.#end - this.#start
          } of ${n} expected bytes`,
        );
      }
      this.#end += got;
    }
    return true;
  }

  async #discard(length: number): Promise<void> {
    let remaining = length;
    const buffered = Math.min(remaining, this.#end - this.#start);
    this.#start += buffered;
    remaining -= buffered;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    while (remaining > 0) {
      const chunk = this.#buf.subarray(0, Math.min(this.#buf.length, remaining));
      const got = await this.#source.read(chunk);
      if (got === null) {
        throw new TruncatedFrameError(
          `Cannot discard oversized ttrpc frame: stream ended with ${remaining} of ${length} bytes left`,
        );
      }
      remaining -= got;
    }
  }
}
