/**
 * Reassembles ttRPC frames from a byte stream. Each read takes as many bytes
 * as the socket has (up to the buffer size), and every complete frame in
 * them is handed out synchronously by `poll()`, so a burst of frames costs
 * one read and no extra promise per frame. The declared length is checked
 * before anything is buffered: an oversized frame's data is read and dropped
 * (as Go ttrpc does), so the stream stays in sync and the caller can answer
 * on that stream id.
 * @module
 */
import { copyBytes } from "./slab.ts";
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
  /** The peer's connection ended inside a frame. */
  readonly code = "Unavailable";
  constructor(message: string) {
    super(message);
    this.name = "TruncatedFrameError";
  }
}

const INITIAL_BUFFER = 64 * 1024;

/** Incremental frame parser over a ByteReader. Not safe for concurrent reads. */
export class FrameReader {
  #source: ByteReader;
  #buf = new Uint8Array(INITIAL_BUFFER);
  #start = 0;
  #end = 0;
  /** Header of an oversized frame whose data is being dropped. */
  #oversized: FrameHeader | undefined;
  #discardLeft = 0;

  constructor(source: ByteReader) {
    this.#source = source;
  }

  /**
   * Returns the next frame, an OversizedFrame marker, or null at a clean end of stream.
   * @throws {TruncatedFrameError} when the stream ends inside a frame
   */
  async next(): Promise<Frame | OversizedFrame | null> {
    for (;;) {
      const frame = this.poll();
      if (frame !== undefined) return frame;
      if (!await this.readMore()) return null;
    }
  }

  /** Returns the next frame if it is already buffered, else undefined (call `readMore()`). */
  poll(): Frame | OversizedFrame | undefined {
    if (this.#oversized !== undefined) {
      const dropped = Math.min(this.#discardLeft, this.#end - this.#start);
      this.#start += dropped;
      this.#discardLeft -= dropped;
      this.#consumed();
      if (this.#discardLeft > 0) return undefined;
      const header = this.#oversized;
      this.#oversized = undefined;
      return { ...header, oversized: true };
    }
    const buffered = this.#end - this.#start;
    if (buffered < HEADER_SIZE) return undefined;
    const header = readHeader(this.#buf, this.#start);
    if (header.length > MAX_DATA_LENGTH) {
      this.#start += HEADER_SIZE;
      this.#oversized = header;
      this.#discardLeft = header.length;
      return this.poll();
    }
    if (buffered < HEADER_SIZE + header.length) return undefined;
    const from = this.#start + HEADER_SIZE;
    // A copy: the buffer is reused by later reads while handlers still hold their data.
    const data = copyBytes(this.#buf, from, from + header.length);
    this.#start = from + header.length;
    this.#consumed();
    return {
      length: header.length,
      streamId: header.streamId,
      type: header.type,
      flags: header.flags,
      data,
    };
  }

  /**
   * Reads more bytes from the source; false at a clean end of stream (no partial frame buffered).
   * @throws {TruncatedFrameError} when the stream ends inside a frame
   */
  async readMore(): Promise<boolean> {
    this.#makeRoom();
    const buf = this.#buf;
    const got = await this.#source.read(this.#end === 0 ? buf : buf.subarray(this.#end));
    if (got === null) {
      if (this.#oversized !== undefined) {
        throw new TruncatedFrameError(
          `Cannot discard oversized ttrpc frame: stream ended with ${this.#discardLeft} of ${this.#oversized.length} bytes left`,
        );
      }
      const buffered = this.#end - this.#start;
      if (buffered === 0) return false;
      // As before: a short header counts header bytes, a short body counts data bytes.
      const [have, expected] = buffered < HEADER_SIZE
        ? [buffered, HEADER_SIZE]
        : [buffered - HEADER_SIZE, readHeader(this.#buf, this.#start).length];
      throw new TruncatedFrameError(
        `Cannot read ttrpc frame: stream ended after ${have} of ${expected} expected bytes`,
      );
    }
    this.#end += got;
    return true;
  }

  /** Resets the buffer once everything in it is consumed. */
  #consumed(): void {
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
      // Give back the memory of a large frame once it is consumed.
      if (this.#buf.length > INITIAL_BUFFER) this.#buf = new Uint8Array(INITIAL_BUFFER);
    }
  }

  /** Ensures free space after #end, big enough for the frame being assembled. */
  #makeRoom(): void {
    if (this.#oversized !== undefined) {
      this.#start = this.#end = 0; // Nothing buffered is kept while discarding.
      return;
    }
    const buffered = this.#end - this.#start;
    let need = HEADER_SIZE;
    if (buffered >= HEADER_SIZE) need = HEADER_SIZE + readHeader(this.#buf, this.#start).length;
    if (this.#end < this.#buf.length && this.#buf.length - this.#start >= need) return;
    // Compact in place when the frame fits, else grow to exactly the frame size.
    const next = need <= this.#buf.length ? this.#buf : new Uint8Array(need);
    if (next === this.#buf) this.#buf.copyWithin(0, this.#start, this.#end);
    else next.set(this.#buf.subarray(this.#start, this.#end), 0);
    this.#end = buffered;
    this.#start = 0;
    this.#buf = next;
  }
}
