/**
 * The RPC boundary's error mapping: domain errors become ttRPC status codes
 * here and nowhere else.
 * @module
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { RuntimeError } from "../common/errors.ts";

const CODES: Record<string, Code> = {
  NotFound: Code.NotFound,
  AlreadyExists: Code.AlreadyExists,
  FailedPrecondition: Code.FailedPrecondition,
  InvalidArgument: Code.InvalidArgument,
  Unimplemented: Code.Unimplemented,
  DeadlineExceeded: Code.DeadlineExceeded,
  Unavailable: Code.Unavailable,
};

/** Turns anything a runtime threw into the ConnectError the ttRPC server sends. */
export function toStatusError(e: unknown): ConnectError {
  if (e instanceof ConnectError) return e;
  if (e instanceof RuntimeError) {
    return new ConnectError(e.message, CODES[e.code] ?? Code.Unknown, undefined, undefined, e);
  }
  if (e instanceof Deno.errors.NotFound) {
    return new ConnectError((e as Error).message, Code.NotFound, undefined, undefined, e);
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new ConnectError(msg, Code.Unknown, undefined, undefined, e);
}
