import { assertEquals } from "../tests/assert.ts";
import { writeAll, writeAllSync } from "./io.ts";

Deno.test("writeAll keeps writing until a writer that takes 3 bytes a call has everything", async () => {
  const got: number[] = [];
  const writer = {
    write(p: Uint8Array): Promise<number> {
      const n = Math.min(3, p.length);
      got.push(...p.subarray(0, n));
      return Promise.resolve(n);
    },
  };
  await writeAll(writer, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
  assertEquals(got, [1, 2, 3, 4, 5, 6, 7, 8]);
});

Deno.test("writeAllSync keeps writing until a writer that takes 3 bytes a call has everything", () => {
  const got: number[] = [];
  const writer = {
    writeSync(p: Uint8Array): number {
      const n = Math.min(3, p.length);
      got.push(...p.subarray(0, n));
      return n;
    },
  };
  writeAllSync(writer, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
  assertEquals(got, [1, 2, 3, 4, 5, 6, 7, 8]);
});
