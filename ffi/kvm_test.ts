import { assertEquals, assertThrows } from "../tests/assert.ts";
import { openKvm } from "./kvm.ts";
import { SysError } from "./errno.ts";

Deno.test("openKvm names the device and the reason when it is missing", () => {
  const e = assertThrows(() => openKvm("/nonexistent/kvm"), SysError);
  assertEquals(e.message.includes("/nonexistent/kvm"), true);
});
