import { assert, assertEquals } from "../tests/assert.ts";
import { allocBytes, copyBytes } from "./slab.ts";

Deno.test("allocBytes() hands out zeroed regions that never overlap", () => {
  const seen: Uint8Array[] = [];
  for (let i = 0; i < 2000; i++) {
    const b = allocBytes(1 + (i % 100));
    assert(b.every((x) => x === 0), "fresh bytes are zero");
    b.fill(0xff);
    seen.push(b);
  }
  // Writing every region with its own value shows no two share bytes.
  seen.forEach((b, i) => b.fill(i & 0xff));
  seen.forEach((b, i) => assert(b.every((x) => x === (i & 0xff)), `region ${i} intact`));
  assertEquals(allocBytes(5000).byteLength, 5000);
  assertEquals(allocBytes(0).length, 0);
});

Deno.test("copyBytes() copies a range into independent memory", () => {
  const src = new Uint8Array([1, 2, 3, 4, 5]);
  const c = copyBytes(src, 1, 4);
  src.fill(0);
  assertEquals([...c], [2, 3, 4]);
});
