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
type FfiErrorCode = "InvalidArgument" | "FailedPrecondition" | "Internal";

/** Status names a failed system call maps to ({@link errnoStatus}). */
export type ErrnoStatus =
  | FfiErrorCode
  | "NotFound"
  | "AlreadyExists"
  | "PermissionDenied"
  | "ResourceExhausted"
  | "Unavailable"
  | "DeadlineExceeded"
  | "Unimplemented";

/** Linux errno values and the status each stands for (others: Internal). */
const ERRNO_STATUS: ReadonlyMap<number, ErrnoStatus> = new Map([
  [1, "PermissionDenied"], // EPERM
  [2, "NotFound"], // ENOENT
  [3, "NotFound"], // ESRCH
  [11, "Unavailable"], // EAGAIN
  [12, "ResourceExhausted"], // ENOMEM
  [13, "PermissionDenied"], // EACCES
  [16, "FailedPrecondition"], // EBUSY
  [17, "AlreadyExists"], // EEXIST
  [19, "NotFound"], // ENODEV
  [20, "FailedPrecondition"], // ENOTDIR
  [21, "FailedPrecondition"], // EISDIR
  [22, "InvalidArgument"], // EINVAL
  [24, "ResourceExhausted"], // EMFILE
  [28, "ResourceExhausted"], // ENOSPC
  [38, "Unimplemented"], // ENOSYS
  [39, "FailedPrecondition"], // ENOTEMPTY
  [95, "Unimplemented"], // EOPNOTSUPP
  [110, "DeadlineExceeded"], // ETIMEDOUT
  [111, "Unavailable"], // ECONNREFUSED
]);

/**
 * The status name of a failed system call's errno, so `SysError` and its kin
 * reach the RPC boundary classified.
 */
export function errnoStatus(errno: number): ErrnoStatus {
  return ERRNO_STATUS.get(errno) ?? "Internal";
}

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
