/**
 * ttRPC frame layout: a 10-byte big-endian header (data length u32, stream id
 * u32, message type u8, flags u8) followed by the protobuf data.
 * @module
 */
import { InternalError, InvalidArgumentError } from "../common/errors.ts";

/** Size of the frame header in bytes. */
export const HEADER_SIZE = 10;

/** Largest data length either side accepts or sends (4 MiB, as Go and Rust ttrpc). */
export const MAX_DATA_LENGTH = 4 << 20;

/** Frame message types. */
export const MessageType = {
  Request: 0x01,
  Response: 0x02,
  Data: 0x03,
} as const;

/** Frame flags (their meaning depends on the message type). */
export const Flags = {
  /** Request/Data: the sender will send no more data on this stream. */
  RemoteClosed: 0x01,
  /** Request: the sender will send more data (client streaming). */
  RemoteOpen: 0x02,
  /** Data: the frame carries no payload. */
  NoData: 0x04,
} as const;

/** A decoded frame header. */
export interface FrameHeader {
  /** Length of the data that follows the header. */
  length: number;
  streamId: number;
  type: number;
  flags: number;
}

/** One received frame; `data` is owned by the receiver (a copy, never reused by the reader). */
export interface Frame extends FrameHeader {
  data: Uint8Array;
}

/** Writes a header into `target` at `offset` (which needs at least HEADER_SIZE bytes). */
export function writeHeader(target: Uint8Array, offset: number, header: FrameHeader): void {
  // Byte by byte: cheaper than a DataView per frame.
  const { length, streamId } = header;
  target[offset] = length >>> 24;
  target[offset + 1] = length >>> 16;
  target[offset + 2] = length >>> 8;
  target[offset + 3] = length;
  target[offset + 4] = streamId >>> 24;
  target[offset + 5] = streamId >>> 16;
  target[offset + 6] = streamId >>> 8;
  target[offset + 7] = streamId;
  target[offset + 8] = header.type;
  target[offset + 9] = header.flags;
}

/** Reads a header from `source` at `offset` (which needs at least HEADER_SIZE bytes). */
export function readHeader(source: Uint8Array, offset = 0): FrameHeader {
  if (source.length - offset < HEADER_SIZE) {
    throw new InternalError("Cannot read ttrpc frame header: too short");
  }
  return {
    length: readUint32(source, offset),
    streamId: readUint32(source, offset + 4),
    type: source[offset + 8],
    flags: source[offset + 9],
  };
}

function readUint32(source: Uint8Array, offset: number): number {
  return (source[offset] * 0x1000000) +
    ((source[offset + 1] << 16) | (source[offset + 2] << 8) | source[offset + 3]);
}

/**
 * Encodes one whole frame (header + data) into a new buffer.
 * @throws {InvalidArgumentError} when the data exceeds MAX_DATA_LENGTH or the stream id is not a u32
 */
export function encodeFrame(
  streamId: number,
  type: number,
  data: Uint8Array,
  flags = 0,
): Uint8Array {
  if (data.length > MAX_DATA_LENGTH) {
    throw new InvalidArgumentError(
      `Cannot encode ttrpc frame: message length ${data.length} exceeds maximum message size of ${MAX_DATA_LENGTH}`,
    );
  }
  if (!Number.isInteger(streamId) || streamId < 0 || streamId > 0xffffffff) {
    throw new InvalidArgumentError(`Cannot encode ttrpc frame: stream id ${streamId} is not a u32`);
  }
  const frame = new Uint8Array(HEADER_SIZE + data.length);
  writeHeader(frame, 0, { length: data.length, streamId, type, flags });
  frame.set(data, HEADER_SIZE);
  return frame;
}
