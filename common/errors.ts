/**
 * Domain errors shared by every layer. Each carries a message that names the
 * thing and the reason, and the gRPC status name the RPC boundary sends
 * (`ttrpc/status.ts` is the one mapping, used by the Task service and the
 * guest agent alike).
 * @module
 */

/**
 * Base class: `code` is the gRPC status name the RPC boundary will use. It is
 * abstract, so no error class can reach the boundary as Unknown by leaving it
 * out.
 */
export abstract class RuntimeError extends Error {
  /** gRPC status name used at the RPC boundary. */
  abstract readonly code: string;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A peer answered with a status that no class here stands for (DataLoss,
 * PermissionDenied, ...): its code name travels on unchanged.
 */
export class PeerStatusError extends RuntimeError {
  constructor(readonly code: string, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The named object does not exist. */
export class NotFoundError extends RuntimeError {
  override readonly code = "NotFound";
}

/** The named object exists already. */
export class AlreadyExistsError extends RuntimeError {
  override readonly code = "AlreadyExists";
}

/** The object is in a state where the operation is not allowed. */
export class FailedPreconditionError extends RuntimeError {
  override readonly code = "FailedPrecondition";
}

/** The caller passed something malformed. */
export class InvalidArgumentError extends RuntimeError {
  override readonly code = "InvalidArgument";
}

/** The operation is not implemented by this runtime (say which and why). */
export class UnimplementedError extends RuntimeError {
  override readonly code = "Unimplemented";
}

/** A deadline passed before the operation completed. */
export class DeadlineExceededError extends RuntimeError {
  override readonly code = "DeadlineExceeded";
}

/** The operation was cancelled: its connection closed, or the caller gave up. */
export class CanceledError extends RuntimeError {
  override readonly code = "Canceled";
}

/** A peer (agent, VMM, containerd) cannot be reached right now. */
export class UnavailableError extends RuntimeError {
  override readonly code = "Unavailable";
}

/**
 * Something that should not fail did: a command the runtime ran (runc,
 * mount) failed for a reason it cannot classify, a peer broke its protocol,
 * or an invariant of our own code did not hold.
 */
export class InternalError extends RuntimeError {
  override readonly code = "Internal";
}

/** A configuration file or value is wrong; the message names file, section and key. */
export class ConfigError extends RuntimeError {
  override readonly code = "InvalidArgument";
}

/**
 * Several steps failed (a clean-up that tries every step and reports all):
 * `errors` holds each failure, the first is the cause.
 */
export class MultipleErrors extends RuntimeError {
  override readonly code = "Internal";
  constructor(readonly errors: readonly unknown[], message: string) {
    super(message, { cause: errors[0] });
  }
}
