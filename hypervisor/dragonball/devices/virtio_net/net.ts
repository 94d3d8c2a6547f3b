/**
 * virtio-net on a host tap device.
 * @module
 */
import { UnimplementedError } from "../../../../common/errors.ts";
import type { VirtioDevice } from "../virtio/device.ts";

/** virtio-net (not supported yet). */
export class VirtioNet {
  /** Fails: virtio-net is not supported yet. */
  static open(tap: string): VirtioDevice {
    throw new UnimplementedError(`virtio-net is not supported yet (tap ${tap})`);
  }
}
