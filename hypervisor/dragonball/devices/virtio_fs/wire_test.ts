import { assertEquals, assertThrows } from "../../../../tests/assert.ts";
import {
  BodyReader,
  BodyWriter,
  direntSize,
  errorReply,
  FuseWireError,
  okReply,
  parseInHeader,
  timeout,
  writeDirent,
} from "./wire.ts";

Deno.test("FUSE in header: parsed, and refused when short or when its length lies", () => {
  const w = new BodyWriter().u32(44).u32(1).u64(7).u64(1).u32(0).u32(0).u32(1).u32(0).u32(0);
  const h = parseInHeader(w.finish());
  assertEquals([h.len, h.opcode, h.unique, h.nodeid], [44, 1, 7n, 1n]);
  assertThrows(() => parseInHeader(new Uint8Array(39)), FuseWireError, "shorter than its header");
  const lying = new BodyWriter().u32(100).zeros(36).finish();
  assertThrows(() => parseInHeader(lying), FuseWireError, "does not match");
});

Deno.test("FUSE body reader: bounded fields and NUL-terminated strings", () => {
  const r = new BodyReader(new Uint8Array([1, 0, 0, 0, 0x61, 0x62, 0, 0x63]));
  assertEquals(r.u32("a"), 1);
  assertEquals(r.cstr("name", 10), "ab");
  assertThrows(() => r.cstr("name", 10), FuseWireError, "not NUL-terminated");
  assertThrows(() => r.u64("offset"), FuseWireError, "ends before its offset");
  assertThrows(() => new BodyReader(new Uint8Array([0x61, 0x62, 0])).cstr("x", 1), FuseWireError);
  const big = new BodyReader(new BodyWriter().u64(2n ** 60n).finish());
  assertThrows(() => big.num("size"), FuseWireError, "too large");
});

Deno.test("FUSE replies: header length, negative errno, dirent padding, split time-outs", () => {
  const ok = okReply(9n, new Uint8Array(3));
  assertEquals(new DataView(ok.buffer).getUint32(0, true), 19);
  const err = new DataView(errorReply(9n, 2).buffer);
  assertEquals([err.getUint32(0, true), err.getInt32(4, true), err.getBigUint64(8, true)], [
    16,
    -2,
    9n,
  ]);
  assertEquals(direntSize(1), 32);
  assertEquals(direntSize(8), 32);
  assertEquals(direntSize(9), 40);
  const d = writeDirent(new BodyWriter(), 5n, 6n, 8, new Uint8Array([0x66])).finish();
  assertEquals(d.length, 32);
  assertEquals(timeout(1.5), { sec: 1n, nsec: 500_000_000 });
  // Growing past the first buffer keeps earlier fields.
  const w = new BodyWriter().u32(0xdeadbeef).zeros(1000).bytes(new Uint8Array([7]));
  const b = w.finish();
  assertEquals([new DataView(b.buffer).getUint32(0, true), b[1004]], [0xdeadbeef, 7]);
});
