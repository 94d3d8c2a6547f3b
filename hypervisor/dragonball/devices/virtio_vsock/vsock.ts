/**
 * virtio-vsock with a hybrid (Unix socket) host side.
 * @module
 */
import { UnimplementedError } from "../../../../common/errors.ts";
import type { VirtioDevice } from "../virtio/device.ts";

/** virtio-vsock (not supported yet). */
export class VirtioVsock {
  /** Fails: vsock is not supported yet. */
  static listen(path: string, _cid: number): Promise<VirtioDevice> {
    return Promise.reject(new UnimplementedError(`virtio-vsock is not supported yet (${path})`));
  }
}
