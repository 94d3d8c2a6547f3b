import { assertThrows } from "../tests/assert.ts";
import { SysError } from "./errno.ts";
import { VhostVsock } from "./vhost.ts";

Deno.test("vhost-vsock: opening a missing device is a SysError naming it", () => {
  assertThrows(
    () => VhostVsock.open("/nonexistent/vhost-vsock"),
    SysError,
    "/nonexistent/vhost-vsock",
  );
});
