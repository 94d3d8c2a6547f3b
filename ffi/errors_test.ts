import { Code } from "@connectrpc/connect";
import { assert, assertEquals } from "../tests/assert.ts";
import { statusCodeOf } from "../ttrpc/status.ts";
import { FfiError } from "./errors.ts";

Deno.test("FfiError keeps its message, name and cause", () => {
  const cause = new Error("inner");
  const e = new FfiError("Internal", "Malformed netlink message: length 3 at offset 0", { cause });
  assert(e instanceof Error, "FfiError is an Error");
  assertEquals([e.name, e.code, e.message, e.cause], [
    "FfiError",
    "Internal",
    "Malformed netlink message: length 3 at offset 0",
    cause,
  ]);
});

Deno.test("each FfiError code is the status code the RPC boundary sends", () => {
  assertEquals(statusCodeOf(new FfiError("InvalidArgument", "x")), Code.InvalidArgument);
  assertEquals(statusCodeOf(new FfiError("FailedPrecondition", "x")), Code.FailedPrecondition);
  assertEquals(statusCodeOf(new FfiError("Internal", "x")), Code.Internal);
});
