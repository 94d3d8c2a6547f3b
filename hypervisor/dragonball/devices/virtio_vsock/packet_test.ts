import { InternalError } from "../../../../common/errors.ts";
import { assertEquals, assertThrows } from "../../../../tests/assert.ts";
import { decodeHeader, encodePacket, OP, parseConnectLine } from "./packet.ts";

Deno.test("vsock header round trip with payload", () => {
  const h = {
    srcCid: 2,
    dstCid: 3,
    srcPort: 1 << 30,
    dstPort: 1024,
    len: 0,
    type: 1,
    op: OP.RW,
    flags: 0,
    bufAlloc: 262144,
    fwdCnt: 77,
  };
  const p = encodePacket(h, new TextEncoder().encode("hi"));
  assertEquals(p.length, 46);
  assertEquals(decodeHeader(p), { ...h, len: 2 });
  assertThrows(() => decodeHeader(p.subarray(0, 43)), InternalError);
});

Deno.test("hybrid vsock CONNECT lines: case-insensitive keyword, decimal port", () => {
  assertEquals(parseConnectLine("CONNECT 1024"), 1024);
  assertEquals(parseConnectLine("connect 1024"), 1024);
  assertEquals(parseConnectLine("Connect   5\r"), 5);
  assertEquals(parseConnectLine("CONNECT"), undefined);
  assertEquals(parseConnectLine("CONNECT -1"), undefined);
  assertEquals(parseConnectLine("CONNECT 99999999999"), undefined);
  assertEquals(parseConnectLine("OPEN 1024"), undefined);
});
