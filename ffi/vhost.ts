/**
 * The vhost-vsock device (`/dev/vhost-vsock`) as far as the runtime uses it:
 * claiming a guest CID with `VHOST_VSOCK_SET_GUEST_CID` to learn whether
 * another VM holds it. The fd is this module's and is closed by
 * {@link VhostVsock.close}.
 * @module
 */
import { E, SysError } from "./errno.ts";
import { closeFd, O, openFd } from "./fd.ts";
import { ioctlBuf } from "./ioctl.ts";

/** `_IOW(VHOST_VIRTIO=0xAF, 0x60, __u64)`. */
const VHOST_VSOCK_SET_GUEST_CID = 0x4008af60;

/** An open vhost-vsock device. */
export class VhostVsock {
  #fd: number;

  private constructor(readonly path: string, fd: number) {
    this.#fd = fd;
  }

  /** Opens `path` (default /dev/vhost-vsock); throws SysError when it cannot. */
  static open(path = "/dev/vhost-vsock"): VhostVsock {
    return new VhostVsock(path, openFd(path, O.RDWR));
  }

  /**
   * Claims guest CID `cid` on this device: true when it was free, false when
   * another VM holds it (EADDRINUSE); any other failure throws SysError.
   */
  trySetGuestCid(cid: number): boolean {
    const arg = new Uint8Array(8);
    new DataView(arg.buffer).setBigUint64(0, BigInt(cid), true);
    try {
      ioctlBuf(this.#fd, VHOST_VSOCK_SET_GUEST_CID, arg, `${this.path} guest CID ${cid}`);
      return true;
    } catch (e) {
      if (e instanceof SysError && e.errno === E.ADDRINUSE) return false;
      throw e;
    }
  }

  /** Closes the device (the CID it claimed is released); safe to call twice. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    closeFd(fd);
  }
}
