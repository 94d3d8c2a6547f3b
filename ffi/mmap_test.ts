import { assertEquals } from "../tests/assert.ts";
import { MAP, map, PROT, unmap } from "./mmap.ts";

Deno.test("anonymous mmap is readable and writable and unmaps", () => {
  const m = map(8192, PROT.READ | PROT.WRITE, MAP.PRIVATE | MAP.ANONYMOUS);
  m.bytes[8191] = 7;
  assertEquals(m.bytes[8191], 7);
  unmap(m);
});
