/**
 * Domain errors shared by every layer. Each carries a message that names the
 * thing and the reason; only `service/` maps them to ttRPC status codes.
 * @module
 */

/** Base class: `code` is the gRPC status name the RPC boundary will use. */
export class RuntimeError extends Error {
  /** gRPC status name used at the RPC boundary. */
  readonly code: string = "Unknown";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
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
