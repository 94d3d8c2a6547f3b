import { Code, ConnectError } from "@connectrpc/connect";
import { assert, assertEquals } from "../tests/assert.ts";
import {
  AlreadyExistsError,
  CanceledError,
  ConfigError,
  DeadlineExceededError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  PeerStatusError,
  UnavailableError,
  UnimplementedError,
} from "../common/errors.ts";
import {
  codeFromName,
  domainError,
  errorFromStatus,
  statusCodeOf,
  statusFromError,
} from "./status.ts";

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

Deno.test("domain errors and status codes map both ways through one table", () => {
  const classes = [
    NotFoundError,
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    UnimplementedError,
    DeadlineExceededError,
    UnavailableError,
    CanceledError,
    InternalError,
  ];
  for (const cls of classes) {
    const code = statusCodeOf(new cls("x"));
    assert(code !== Code.Unknown, `${cls.name} has a status code`);
    const back = domainError(new ConnectError("peer said so", code), "Agent call Foo");
    assert(back instanceof cls, `${Code[code]} comes back as ${cls.name}, not ${back}`);
    assertEquals((back as Error).cause instanceof ConnectError, true);
  }
  assertEquals(statusCodeOf(new ConfigError("bad key")), Code.InvalidArgument);
  assertEquals(statusCodeOf(new Deno.errors.NotFound("no file")), Code.NotFound);
  // Deno's I/O errors keep their meaning rather than arriving as Unknown.
  assertEquals(statusCodeOf(new Deno.errors.AlreadyExists("file exists")), Code.AlreadyExists);
  assertEquals(statusCodeOf(new Deno.errors.PermissionDenied("EACCES")), Code.PermissionDenied);
  assertEquals(statusCodeOf(new Deno.errors.ConnectionRefused("refused")), Code.Unavailable);
  const other = domainError(new ConnectError("disk on fire", Code.DataLoss), "Agent call Foo");
  assert(other instanceof PeerStatusError, String(other));
  assertEquals(statusCodeOf(other), Code.DataLoss);
  assertEquals((other as Error).message, "Agent call Foo failed (DataLoss): disk on fire");
  const plain = new Error("not from a peer");
  assertEquals(domainError(plain, "Agent call Foo"), plain);
});
