/**
 * Picks a free vhost-vsock guest CID the way Kata does: try random CIDs with
 * `VHOST_VSOCK_SET_GUEST_CID` on /dev/vhost-vsock until one is not taken.
 * The probe fd is closed again (Deno cannot hand it to QEMU), so QEMU claims
 * the CID itself a moment later; a lost race makes QEMU fail clearly.
 * @module
 */
import { UnavailableError } from "../../common/errors.ts";
import { closeFd, ioctlBuf, O, openFd, SysError } from "../../ffi/libc.ts";

/** `_IOW(VHOST_VIRTIO=0xAF, 0x60, __u64)`. */
export const VHOST_VSOCK_SET_GUEST_CID = 0x4008af60;
const EADDRINUSE = 98;
const ATTEMPTS = 50;

/** Returns a guest CID no other VM on this host uses right now. */
export function allocateVsockCid(
  device = "/dev/vhost-vsock",
  random: () => number = () => 3 + Math.floor(Math.random() * (0xfffffffe - 3)),
): number {
  let fd: number;
  try {
    fd = openFd(device, O.RDWR);
  } catch (e) {
    throw new UnavailableError(
      `Cannot allocate a vsock CID: ${(e as Error).message} (is the vhost_vsock module loaded?)`,
      { cause: e },
    );
  }
  try {
    for (let i = 0; i < ATTEMPTS; i++) {
      const cid = random();
      const arg = new Uint8Array(8);
      new DataView(arg.buffer).setBigUint64(0, BigInt(cid), true);
      try {
        ioctlBuf(fd, VHOST_VSOCK_SET_GUEST_CID, arg, `${device} guest CID ${cid}`);
        return cid;
      } catch (e) {
        if (e instanceof SysError && e.errno === EADDRINUSE) continue;
        throw new UnavailableError(`Cannot allocate a vsock CID: ${(e as Error).message}`, {
          cause: e,
        });
      }
    }
  } finally {
    closeFd(fd);
  }
  throw new UnavailableError(
    `Cannot allocate a vsock CID: ${ATTEMPTS} random CIDs were all in use`,
  );
}
