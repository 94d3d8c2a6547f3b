import { assertEquals } from "../tests/assert.ts";
import { type ByteWriter, FrameWriter } from "./frame_writer.ts";

/** A sink that accepts at most `max` bytes per write and records each write. */
function sink(max: number, failAfter = Infinity) {
  const writes: number[][] = [];
  const writer: ByteWriter = {
    async write(p: Uint8Array) {
      await Promise.resolve();
      if (writes.length >= failAfter) throw new Error("broken pipe");
      const n = Math.min(max, p.length);
      writes.push([...p.subarray(0, n)]);
      return n;
    },
  };
  return { writer, writes };
}

Deno.test("FrameWriter keeps order, finishes partial writes and coalesces queued frames", async () => {
  const { writer, writes } = sink(3);
  const errors: unknown[] = [];
  const w = new FrameWriter(writer, (e) => errors.push(e));
  w.write(new Uint8Array([1, 2, 3, 4]));
  w.write(new Uint8Array([5]));
  w.write(new Uint8Array([6, 7]));
  await w.flushed();
  assertEquals(writes.flat(), [1, 2, 3, 4, 5, 6, 7]);
  // The first frame went alone (partially), the two queued behind it as one buffer.
  assertEquals(writes, [[1, 2, 3], [4], [5, 6, 7]]);
  assertEquals(errors, []);
});

Deno.test("FrameWriter reports the first write error once and drops later frames", async () => {
  const { writer, writes } = sink(100, 1);
  const errors: string[] = [];
  const w = new FrameWriter(writer, (e) => errors.push((e as Error).message));
  w.write(new Uint8Array([1]));
  await w.flushed();
  w.write(new Uint8Array([2]));
  w.write(new Uint8Array([3]));
  await w.flushed();
  w.write(new Uint8Array([4]));
  await w.flushed();
  assertEquals(writes, [[1]]);
  assertEquals(errors, ["broken pipe"]);
});
