import { assertEquals, assertThrows } from "../tests/assert.ts";
import { InvalidArgumentError } from "../common/errors.ts";
import { DEFAULT_READY_TIMEOUT_MS, readyTimeoutMs } from "./start.ts";

Deno.test("ready timeout: the default stays within containerd's 5 s shim load timeout", () => {
  assertEquals(readyTimeoutMs(undefined), DEFAULT_READY_TIMEOUT_MS);
  assertEquals(readyTimeoutMs(""), DEFAULT_READY_TIMEOUT_MS);
  assertEquals(DEFAULT_READY_TIMEOUT_MS < 5000, true);
});

Deno.test("ready timeout: KATA_SHIM_READY_TIMEOUT_MS overrides it; bad values are refused", () => {
  assertEquals(readyTimeoutMs("55000"), 55000);
  for (const bad of ["0", "-1", "1.5", "ten", "10s"]) {
    assertThrows(() => readyTimeoutMs(bad), InvalidArgumentError, "KATA_SHIM_READY_TIMEOUT_MS");
  }
});
