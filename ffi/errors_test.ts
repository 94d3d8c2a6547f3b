import { Code } from "@connectrpc/connect";
import { assert, assertEquals } from "../tests/assert.ts";
import { statusCodeOf } from "../ttrpc/status.ts";
import { errnoStatus, FfiError } from "./errors.ts";
import { SysError } from "./errno.ts";

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

Deno.test("errnoStatus classifies the usual errnos and calls the rest Internal", () => {
  assertEquals(
    [2, 17, 22, 13, 28, 110, 9999].map(errnoStatus),
    [
      "NotFound",
      "AlreadyExists",
      "InvalidArgument",
      "PermissionDenied",
      "ResourceExhausted",
      "DeadlineExceeded",
      "Internal",
    ],
  );
});

Deno.test("a failed system call reaches the RPC boundary with its errno's status", () => {
  assertEquals(statusCodeOf(new SysError("open", 2, "/nonexistent")), Code.NotFound);
  assertEquals(statusCodeOf(new SysError("mmap", 12)), Code.ResourceExhausted);
});
