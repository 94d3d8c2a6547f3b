/**
 * Linux errno values for the error replies of the file servers (9P2000.L
 * Rlerror, FUSE out headers), taken from a failed host call (Deno's error
 * `code`, or the errno of an `ffi/` SysError) or decided by the server.
 * @module
 */
import { SysError } from "../../../../ffi/errno.ts";

/** The errno values the server names itself. */
export const E = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EFBIG: 27,
  ENOSPC: 28,
  EROFS: 30,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENODATA: 61,
  EPROTO: 71,
  EOPNOTSUPP: 95,
} as const;

/** Deno error codes to errno: the ones above and the rest a host call may report. */
const BY_CODE: Record<string, number> = {
  ...E,
  EINTR: 4,
  ENXIO: 6,
  ENODEV: 19,
  EMFILE: 24,
  ETXTBSY: 26,
  ESPIPE: 29,
  EMLINK: 31,
  EPIPE: 32,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  EDQUOT: 122,
};

/** A failure a file server itself decides, with the errno to report. */
export class GuestFsError extends Error {
  /** The status name should such a failure ever leave the device (the guest gets an errno). */
  readonly code = "Internal";
  constructor(readonly errno: number, message: string) {
    super(message);
    this.name = "GuestFsError";
  }
}

/** The errno to report for `e`; EIO when the host error carries none. */
export function errnoOf(e: unknown): number {
  if (e instanceof GuestFsError) return e.errno;
  if (e instanceof SysError) return e.errno;
  const code = (e as { code?: unknown })?.code;
  if (typeof code === "string" && code in BY_CODE) return BY_CODE[code];
  return E.EIO;
}
