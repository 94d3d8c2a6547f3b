/**
 * Mapping between thrown errors and google.rpc.Status, the error model on the
 * ttRPC wire. The codes are gRPC's, which is what connect's `Code` enum holds.
 * This is the one mapping between domain errors (`common/errors.ts`) and
 * status codes, both ways: servers (the Task service, the guest agent) send
 * {@link statusCodeOf} a thrown error, clients turn a peer's status back into
 * a domain error with {@link domainError}.
 * @module
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  AlreadyExistsError,
  CanceledError,
  DeadlineExceededError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  PeerStatusError,
  type RuntimeError,
  UnavailableError,
  UnimplementedError,
} from "../common/errors.ts";
import type { AnyEnvelope, StatusEnvelope } from "./envelope.ts";

const codeByName = new Map<string, Code>();
for (const [name, value] of Object.entries(Code)) {
  if (typeof value === "number") codeByName.set(name.toLowerCase(), value);
}
codeByName.set("cancelled", Code.Canceled);

/**
 * Resolves a status code name as carried by domain errors (`"NotFound"`,
 * `"NOT_FOUND"`, `"not_found"`) to its numeric code; undefined if unknown.
 */
export function codeFromName(name: string): Code | undefined {
  return codeByName.get(name.replaceAll("_", "").toLowerCase());
}

/** The status of each of Deno's I/O errors that a runtime may let through. */
const DENO_ERRORS: ReadonlyArray<readonly [new (...a: never[]) => Error, Code]> = [
  [Deno.errors.NotFound, Code.NotFound],
  [Deno.errors.AlreadyExists, Code.AlreadyExists],
  [Deno.errors.PermissionDenied, Code.PermissionDenied],
  [Deno.errors.NotCapable, Code.PermissionDenied],
  [Deno.errors.TimedOut, Code.DeadlineExceeded],
  [Deno.errors.Interrupted, Code.Canceled],
  [Deno.errors.ConnectionRefused, Code.Unavailable],
  [Deno.errors.ConnectionReset, Code.Unavailable],
  [Deno.errors.ConnectionAborted, Code.Unavailable],
  [Deno.errors.NotConnected, Code.Unavailable],
  [Deno.errors.BrokenPipe, Code.Unavailable],
  [Deno.errors.NetworkUnreachable, Code.Unavailable],
  [Deno.errors.AddrInUse, Code.FailedPrecondition],
  [Deno.errors.AddrNotAvailable, Code.FailedPrecondition],
  [Deno.errors.Busy, Code.FailedPrecondition],
  [Deno.errors.IsADirectory, Code.FailedPrecondition],
  [Deno.errors.NotADirectory, Code.FailedPrecondition],
  [Deno.errors.FilesystemLoop, Code.FailedPrecondition],
  [Deno.errors.InvalidData, Code.InvalidArgument],
  [Deno.errors.NotSupported, Code.Unimplemented],
  [Deno.errors.UnexpectedEof, Code.Internal],
  [Deno.errors.WriteZero, Code.Internal],
  [Deno.errors.BadResource, Code.Internal],
];

/**
 * The status code of anything thrown: a ConnectError's own; a domain error's
 * by its code name (`"NotFound"`); aborts and timeouts; Deno's I/O errors by
 * their class; else Unknown.
 */
export function statusCodeOf(err: unknown): Code {
  if (err instanceof ConnectError) return err.code;
  if (err instanceof DOMException) {
    if (err.name === "TimeoutError") return Code.DeadlineExceeded;
    if (err.name === "AbortError") return Code.Canceled;
  }
  for (const [cls, code] of DENO_ERRORS) if (err instanceof cls) return code;
  if (err instanceof Error) {
    const name = (err as { code?: unknown }).code;
    return (typeof name === "string" ? codeFromName(name) : undefined) ?? Code.Unknown;
  }
  return Code.Unknown;
}

/** Converts anything thrown by a handler into the status sent back to the client. */
export function statusFromError(err: unknown): StatusEnvelope {
  if (err instanceof ConnectError) {
    return { code: err.code, message: err.rawMessage, details: detailsOf(err) };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: statusCodeOf(err), message, details: [] };
}

type DomainErrorClass = new (message: string, options?: ErrorOptions) => RuntimeError;

/** The domain error of each status code a peer may answer with (others: PeerStatusError). */
const DOMAIN_ERRORS = new Map<Code, DomainErrorClass>([
  [Code.NotFound, NotFoundError],
  [Code.AlreadyExists, AlreadyExistsError],
  [Code.FailedPrecondition, FailedPreconditionError],
  [Code.InvalidArgument, InvalidArgumentError],
  [Code.Unimplemented, UnimplementedError],
  [Code.DeadlineExceeded, DeadlineExceededError],
  [Code.Unavailable, UnavailableError],
  [Code.Canceled, CanceledError],
  [Code.Internal, InternalError],
]);

/**
 * The domain error for a failed call (`what` names it, e.g. `Agent call
 * CreateContainer`): a ConnectError becomes the domain error of its code
 * with the peer's message and the original as `cause`; anything else is
 * returned as it is.
 */
export function domainError(err: unknown, what: string): unknown {
  if (!(err instanceof ConnectError)) return err;
  const message = `${what} failed (${Code[err.code]}): ${err.rawMessage}`;
  const cls = DOMAIN_ERRORS.get(err.code);
  return cls
    ? new cls(message, { cause: err })
    : new PeerStatusError(Code[err.code] ?? "Unknown", message, { cause: err });
}

function detailsOf(err: ConnectError): AnyEnvelope[] {
  return err.details.map((d) => {
    if ("desc" in d) {
      return {
        typeUrl: `type.googleapis.com/${d.desc.typeName}`,
        value: toBinary(d.desc, create(d.desc, d.value)),
      };
    }
    return { typeUrl: `type.googleapis.com/${d.type}`, value: d.value };
  });
}

/** Converts a non-OK status received from a peer into the error a client call rejects with. */
export function errorFromStatus(status: StatusEnvelope): ConnectError {
  const code = status.code in Code ? status.code as Code : Code.Unknown;
  const err = new ConnectError(status.message, code);
  err.details = status.details.map((d) => ({
    type: d.typeUrl.slice(d.typeUrl.lastIndexOf("/") + 1),
    value: d.value,
  }));
  err.isWireError = true;
  return err;
}
