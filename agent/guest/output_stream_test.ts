import { assertEquals } from "../../tests/assert.ts";
import { OutputStream } from "./output_stream.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function streamOf(...chunks: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const s of chunks) c.enqueue(enc.encode(s));
      c.close();
    },
  });
}

Deno.test("reads return at most len bytes, keep leftovers, then empty at end", async () => {
  const out = new OutputStream(Promise.resolve(streamOf("hello world", "!")));
  assertEquals(dec.decode(await out.read(5)), "hello");
  assertEquals(dec.decode(await out.read(100)), " world");
  assertEquals(dec.decode(await out.read(0)), "!");
  assertEquals((await out.read(10)).length, 0);
  assertEquals((await out.read(10)).length, 0);
});

Deno.test("a missing stream reads as end of stream", async () => {
  const out = new OutputStream(Promise.resolve(null));
  assertEquals((await out.read(10)).length, 0);
});

Deno.test("concurrent reads are served in order without interleaving", async () => {
  const out = new OutputStream(Promise.resolve(streamOf("abcdef")));
  const [a, b, c] = await Promise.all([out.read(2), out.read(2), out.read(2)]);
  assertEquals([dec.decode(a), dec.decode(b), dec.decode(c)], ["ab", "cd", "ef"]);
});

Deno.test("reads issued before the process starts wait for its stream", async () => {
  let start!: (s: ReadableStream<Uint8Array>) => void;
  const out = new OutputStream(new Promise((r) => start = r));
  const pending = out.read(10);
  start(streamOf("late"));
  assertEquals(dec.decode(await pending), "late");
});
