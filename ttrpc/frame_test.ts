import { assertEquals, assertThrows } from "../tests/assert.ts";
import { InvalidArgumentError } from "../common/errors.ts";
import { encodeFrame, HEADER_SIZE, MAX_DATA_LENGTH, MessageType, readHeader } from "./frame.ts";

Deno.test("encodeFrame() writes the 10-byte big-endian header before the data", () => {
  const frame = encodeFrame(0x01020304, MessageType.Response, new Uint8Array([7, 8]), 0x05);
  assertEquals([...frame], [0, 0, 0, 2, 1, 2, 3, 4, 2, 5, 7, 8]);
  assertEquals(readHeader(frame), { length: 2, streamId: 0x01020304, type: 2, flags: 5 });
});

Deno.test("encodeFrame() matches the worked Connect response bytes", () => {
  // Response{payload: ConnectResponse{shim_pid: 1234}} on stream 1, status omitted.
  const frame = encodeFrame(1, MessageType.Response, new Uint8Array([0x12, 3, 8, 0xd2, 9]));
  assertEquals(
    [...frame],
    [0, 0, 0, 5, 0, 0, 0, 1, 2, 0, 0x12, 3, 8, 0xd2, 9],
  );
  assertEquals(frame.length, HEADER_SIZE + 5);
});

Deno.test("encodeFrame() refuses data over 4 MiB and stream ids outside u32", () => {
  assertThrows(
    () => encodeFrame(1, MessageType.Request, new Uint8Array(MAX_DATA_LENGTH + 1)),
    InvalidArgumentError,
    "exceeds maximum message size of 4194304",
  );
  encodeFrame(1, MessageType.Request, new Uint8Array(MAX_DATA_LENGTH));
  assertThrows(
    () => encodeFrame(2 ** 32, MessageType.Request, new Uint8Array()),
    InvalidArgumentError,
  );
});
