/**
 * The error of an `ffi/` call that failed without an errno (a short write, a
 * malformed kernel reply, a closed handle, a bad argument). Failed system
 * calls throw `SysError` (errno.ts) and refused netlink requests
 * `NetlinkError` (netlink.ts) instead.
 * @module
 */

/**
 * Status names an {@link FfiError} may carry: the `code` names of
 * `common/errors.ts`, which the RPC boundary (`ttrpc/status.ts`) maps by name.
 * `ffi/` imports nothing of ours, so it cannot throw those classes itself.
 */
export type FfiErrorCode = "InvalidArgument" | "FailedPrecondition" | "Internal";

/**
 * A failed `ffi/` call. `code` says what kind of failure it is:
 * `InvalidArgument` for a bad argument from the caller, `FailedPrecondition`
 * for a handle or host in the wrong state (closed socket, missing kernel
 * support), `Internal` for a kernel or peer answer that breaks its protocol.
 */
export class FfiError extends Error {
  constructor(readonly code: FfiErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FfiError";
  }
}
