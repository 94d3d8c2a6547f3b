import { Code, ConnectError } from "@connectrpc/connect";
import { assertEquals } from "../tests/assert.ts";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  NotFoundError,
  UnimplementedError,
} from "../common/errors.ts";
import { toStatusError } from "./errors.ts";

Deno.test("errors: domain errors map to their status codes, keeping the message", () => {
  const cases: [Error, Code][] = [
    [new NotFoundError('container "c" does not exist'), Code.NotFound],
    [new AlreadyExistsError("x"), Code.AlreadyExists],
    [new FailedPreconditionError("y"), Code.FailedPrecondition],
    [new UnimplementedError("z"), Code.Unimplemented],
    [new Error("plain"), Code.Unknown],
  ];
  for (const [e, code] of cases) {
    const s = toStatusError(e);
    assertEquals(s.code, code);
    assertEquals(s.rawMessage, e.message);
  }
  const c = new ConnectError("kept", Code.Aborted);
  assertEquals(toStatusError(c), c);
});
