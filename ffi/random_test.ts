import { assertEquals, assertThrows } from "../tests/assert.ts";
import { FfiError } from "./errors.ts";
import { SysError } from "./errno.ts";
import { encodeRandPoolInfo, reseedKernelRandom } from "./random.ts";

Deno.test("rand_pool_info credits every bit of the seed and carries its bytes", () => {
  const b = encodeRandPoolInfo(Uint8Array.of(1, 2, 3));
  const v = new DataView(b.buffer);
  assertEquals([v.getInt32(0, true), v.getInt32(4, true)], [24, 3]);
  assertEquals([...b.subarray(8)], [1, 2, 3]);
  assertThrows(() => encodeRandPoolInfo(new Uint8Array(0)), FfiError, "outside 1..4096");
});

Deno.test("reseedKernelRandom names the device when it cannot open it", () => {
  assertThrows(
    () => reseedKernelRandom(Uint8Array.of(1), "/nonexistent/urandom"),
    SysError,
    "/nonexistent/urandom",
  );
});
