import { Code, ConnectError } from "@connectrpc/connect";
import { assertEquals } from "../tests/assert.ts";
import { FailedPreconditionError, NotFoundError, UnimplementedError } from "../common/errors.ts";
import { codeFromName, errorFromStatus, statusFromError } from "./status.ts";

Deno.test("statusFromError() maps domain errors by their code name", () => {
  assertEquals(statusFromError(new NotFoundError("container c1 not found")), {
    code: 5,
    message: "container c1 not found",
    details: [],
  });
  assertEquals(statusFromError(new FailedPreconditionError("x")).code, 9);
  assertEquals(statusFromError(new UnimplementedError("x")).code, 12);
  const withCode = Object.assign(new Error("gone"), { code: "NOT_FOUND" });
  assertEquals(statusFromError(withCode).code, Code.NotFound);
});

Deno.test("statusFromError() maps ConnectError, aborts, and unknown throws", () => {
  assertEquals(statusFromError(new ConnectError("slow", Code.DeadlineExceeded)), {
    code: 4,
    message: "slow",
    details: [],
  });
  assertEquals(statusFromError(new DOMException("t", "TimeoutError")).code, Code.DeadlineExceeded);
  assertEquals(statusFromError(new DOMException("a", "AbortError")).code, Code.Canceled);
  assertEquals(statusFromError(new Error("boom")), { code: 2, message: "boom", details: [] });
  assertEquals(statusFromError("str"), { code: 2, message: "str", details: [] });
  assertEquals(statusFromError(Object.assign(new Error("e"), { code: "ENOENT" })).code, 2);
});

Deno.test("codeFromName() accepts Go, gRPC and camel spellings", () => {
  assertEquals(codeFromName("AlreadyExists"), 6);
  assertEquals(codeFromName("ALREADY_EXISTS"), 6);
  assertEquals(codeFromName("cancelled"), 1);
  assertEquals(codeFromName("nope"), undefined);
});

Deno.test("errorFromStatus() keeps code, raw message and details", () => {
  const err = errorFromStatus({
    code: 6,
    message: "exists",
    details: [{ typeUrl: "type.googleapis.com/a.B", value: new Uint8Array([1]) }],
  });
  assertEquals([err.code, err.rawMessage], [Code.AlreadyExists, "exists"]);
  assertEquals(err.details, [{ type: "a.B", value: new Uint8Array([1]) }]);
  assertEquals(errorFromStatus({ code: 99, message: "?", details: [] }).code, Code.Unknown);
});
