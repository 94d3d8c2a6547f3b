/**
 * The 9p server's errors: the shared errno table and {@link P9Error}.
 * @module
 */
import { GuestFsError } from "../virtio/host_errno.ts";

export { E, errnoOf } from "../virtio/host_errno.ts";

/** A failure the 9p server itself decides, with the errno to report. */
export class P9Error extends GuestFsError {
  constructor(errno: number, message: string) {
    super(errno, message);
    this.name = "P9Error";
  }
}
