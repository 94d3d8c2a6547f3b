import { assertEquals, assertThrows } from "../../../../tests/assert.ts";
import { direntSize, lerror, P9, Reader, readHeader, WireError, Writer } from "./wire.ts";

Deno.test("9p writer and reader round-trip every field type", () => {
  const msg = new Writer(P9.Tversion, 0xffff).u8(7).u16(513).u32(0xdeadbeef).u64(1n << 40n)
    .str("9P2000.L").qid({ type: 0x80, version: 3, path: 42n }).bytes(Uint8Array.of(1, 2))
    .finish();
  const r = new Reader(msg);
  assertEquals(readHeader(r), { size: msg.length, type: P9.Tversion, tag: 0xffff });
  assertEquals(r.u8(), 7);
  assertEquals(r.u16(), 513);
  assertEquals(r.u32(), 0xdeadbeef);
  assertEquals(r.u64(), 1n << 40n);
  assertEquals(r.str(), "9P2000.L");
  assertEquals([r.u8(), r.u32(), r.u64()], [0x80, 3, 42n]);
  assertEquals([...r.bytesOf(2)], [1, 2]);
});

Deno.test("9p reader refuses reads past the end and bad UTF-8", () => {
  assertThrows(() => new Reader(Uint8Array.of(1, 2)).u32("fid"), WireError, "fid");
  assertThrows(() => new Reader(Uint8Array.of(5, 0, 0x61)).str("name"), WireError, "name");
  assertThrows(() => new Reader(Uint8Array.of(1, 0, 0xff)).str("name"), WireError, "UTF-8");
  assertThrows(
    () => new Reader(new Writer(1, 1).u64(1n << 60n).finish().subarray(7)).num("offset"),
    WireError,
    "too large",
  );
});

Deno.test("9p header size must match the bytes received", () => {
  const msg = new Writer(P9.Tclunk, 1).u32(5).finish();
  new DataView(msg.buffer).setUint32(0, 100, true);
  assertThrows(() => readHeader(new Reader(msg)), WireError, "Size field 100");
  new DataView(msg.buffer).setUint32(0, 3, true);
  assertThrows(() => readHeader(new Reader(msg)), WireError, "Size field 3");
});

Deno.test("9p Rlerror carries the errno; dirent size counts every field", () => {
  const r = new Reader(lerror(9, 2));
  assertEquals(readHeader(r), { size: 11, type: P9.Rlerror, tag: 9 });
  assertEquals(r.u32(), 2);
  assertEquals(direntSize("ab"), 13 + 8 + 1 + 2 + 2);
});

Deno.test("9p writer grows past its first buffer for large data and strings", () => {
  const data = new Uint8Array(100_000).fill(7);
  const name = "n".repeat(1000);
  const msg = new Writer(P9.Tread + 1, 3).u32(data.length).bytes(data).str(name).finish();
  const r = new Reader(msg);
  assertEquals(readHeader(r).size, 7 + 4 + 100_000 + 2 + 1000);
  assertEquals(r.u32(), 100_000);
  assertEquals(r.bytesOf(100_000).every((b) => b === 7), true);
  assertEquals(r.str(), name);
});
