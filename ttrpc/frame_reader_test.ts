import { assert, assertEquals, assertRejects } from "../tests/assert.ts";
import { encodeFrame, MAX_DATA_LENGTH, MessageType, writeHeader } from "./frame.ts";
import { type ByteReader, FrameReader, TruncatedFrameError } from "./frame_reader.ts";

/** Serves `bytes` in chunks of the given sizes (cycling), like a socket would. */
function chunked(bytes: Uint8Array, sizes: number[]): ByteReader {
  let off = 0;
  let i = 0;
  return {
    read(p: Uint8Array) {
      if (off >= bytes.length) return Promise.resolve(null);
      const n = Math.min(p.length, sizes[i++ % sizes.length], bytes.length - off);
      p.set(bytes.subarray(off, off + n));
      off += n;
      return Promise.resolve(n);
    },
  };
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

Deno.test("FrameReader reassembles frames split at every possible byte boundary", async () => {
  const frames = [
    encodeFrame(1, MessageType.Request, new Uint8Array([1, 2, 3])),
    encodeFrame(3, MessageType.Request, new Uint8Array(0)),
    encodeFrame(5, MessageType.Data, new Uint8Array(100_000).fill(9), 1),
  ];
  const stream = concat(...frames);
  for (const sizes of [[1], [3, 7], [10], [4096], [1 << 20]]) {
    const reader = new FrameReader(chunked(stream, sizes));
    const a = await reader.next();
    const b = await reader.next();
    const c = await reader.next();
    assert(a && !("oversized" in a) && b && !("oversized" in b) && c && !("oversized" in c));
    assertEquals([a.streamId, [...a.data]], [1, [1, 2, 3]]);
    assertEquals([b.streamId, b.data.length], [3, 0]);
    assertEquals([c.streamId, c.type, c.flags, c.data.length, c.data[99_999]], [
      5,
      3,
      1,
      100_000,
      9,
    ]);
    assertEquals(await reader.next(), null);
  }
});

Deno.test("FrameReader discards an oversized frame and stays in sync", async () => {
  const header = new Uint8Array(10);
  writeHeader(header, 0, {
    length: MAX_DATA_LENGTH + 1,
    streamId: 7,
    type: MessageType.Request,
    flags: 0,
  });
  const stream = concat(
    header,
    new Uint8Array(MAX_DATA_LENGTH + 1),
    encodeFrame(9, MessageType.Request, new Uint8Array([42])),
  );
  const reader = new FrameReader(chunked(stream, [65536, 13]));
  const big = await reader.next();
  assertEquals(big, {
    length: MAX_DATA_LENGTH + 1,
    streamId: 7,
    type: 1,
    flags: 0,
    oversized: true,
  });
  const next = await reader.next();
  assert(next && !("oversized" in next));
  assertEquals([next.streamId, [...next.data]], [9, [42]]);
});

Deno.test("FrameReader rejects a stream that ends inside a header or inside data", async () => {
  const frame = encodeFrame(1, MessageType.Request, new Uint8Array(20));
  await assertRejects(
    () => new FrameReader(chunked(frame.subarray(0, 4), [100])).next(),
    TruncatedFrameError,
    "stream ended after 4 of 10 expected bytes",
  );
  await assertRejects(
    () => new FrameReader(chunked(frame.subarray(0, 25), [100])).next(),
    TruncatedFrameError,
    "stream ended after 15 of 20 expected bytes",
  );
});

Deno.test("FrameReader hands out every frame of one read without reading again", async () => {
  const bytes = concat(
    encodeFrame(1, MessageType.Request, new Uint8Array([1])),
    encodeFrame(3, MessageType.Request, new Uint8Array([2, 2])),
    encodeFrame(5, MessageType.Request, new Uint8Array([3])).subarray(0, 4),
  );
  let reads = 0;
  const source = chunked(bytes, [bytes.length]);
  const reader = new FrameReader({ read: (p) => (reads++, source.read(p)) });
  assertEquals(reader.poll(), undefined);
  assert(await reader.readMore());
  const ids = [];
  for (let f = reader.poll(); f !== undefined; f = reader.poll()) ids.push(f.streamId);
  assertEquals([ids, reads], [[1, 3], 1]);
  await assertRejects(() => reader.readMore(), TruncatedFrameError, "after 4 of 10 expected bytes");
});
