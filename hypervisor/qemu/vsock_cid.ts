/**
 * Picks a free vhost-vsock guest CID the way Kata does: try random CIDs with
 * `VHOST_VSOCK_SET_GUEST_CID` on /dev/vhost-vsock until one is not taken.
 * The probe fd is closed again (Deno cannot hand it to QEMU), so QEMU claims
 * the CID itself a moment later; a lost race makes QEMU fail clearly.
 * @module
 */
import { UnavailableError } from "../../common/errors.ts";
import { VhostVsock } from "../../ffi/vhost.ts";

const ATTEMPTS = 50;

/** Returns a guest CID no other VM on this host uses right now. */
export function allocateVsockCid(
  device = "/dev/vhost-vsock",
  random: () => number = () => 3 + Math.floor(Math.random() * (0xfffffffe - 3)),
): number {
  let vhost: VhostVsock;
  try {
    vhost = VhostVsock.open(device);
  } catch (e) {
    throw new UnavailableError(
      `Cannot allocate a vsock CID: ${(e as Error).message} (is the vhost_vsock module loaded?)`,
      { cause: e },
    );
  }
  try {
    for (let i = 0; i < ATTEMPTS; i++) {
      const cid = random();
      let claimed: boolean;
      try {
        claimed = vhost.trySetGuestCid(cid);
      } catch (e) {
        throw new UnavailableError(`Cannot allocate a vsock CID: ${(e as Error).message}`, {
          cause: e,
        });
      }
      if (claimed) return cid;
    }
  } finally {
    vhost.close();
  }
  throw new UnavailableError(
    `Cannot allocate a vsock CID: ${ATTEMPTS} random CIDs were all in use`,
  );
}
