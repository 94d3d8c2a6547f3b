/**
 * Reseeding the kernel's random number generator (RNDADDENTROPY and
 * RNDRESEEDCRNG on /dev/urandom): what the guest agent does for
 * ReseedRandomDev. A VM restored from a template starts with the template's
 * CRNG state; a plain write to /dev/urandom only stirs the input pool, and
 * the CRNG would hand every clone the same bytes until its next scheduled
 * reseed. Credited entropy and a forced reseed make each clone's stream
 * its own at once. Needs CAP_SYS_ADMIN.
 * @module
 */
import { closeFd, O, openFd } from "./fd.ts";
import { ioctlBuf, ioctlVal } from "./ioctl.ts";
import { E, SysError } from "./errno.ts";
import { FfiError } from "./errors.ts";

/** _IOW('R', 0x03, int[2]) and _IO('R', 0x07). */
const RND = { ADDENTROPY: 0x40085203, RESEEDCRNG: 0x5207 } as const;

/** Largest seed taken (the kernel's input pool is 256 bytes; more only costs time). */
const MAX_SEED_BYTES = 4096;

/** Encodes struct rand_pool_info crediting every bit of `seed`. */
export function encodeRandPoolInfo(seed: Uint8Array): Uint8Array<ArrayBuffer> {
  if (seed.length === 0 || seed.length > MAX_SEED_BYTES) {
    throw new FfiError(
      "InvalidArgument",
      `Random seed of ${seed.length} bytes is outside 1..${MAX_SEED_BYTES}`,
    );
  }
  const b = new Uint8Array(8 + seed.length);
  const v = new DataView(b.buffer);
  v.setInt32(0, seed.length * 8, true);
  v.setInt32(4, seed.length, true);
  b.set(seed, 8);
  return b;
}

/** Adds `seed` as credited entropy and reseeds the CRNG (a kernel without RNDRESEEDCRNG: skipped). */
export function reseedKernelRandom(seed: Uint8Array, device = "/dev/urandom"): void {
  const info = encodeRandPoolInfo(seed);
  const fd = openFd(device, O.RDWR);
  try {
    ioctlBuf(fd, RND.ADDENTROPY, info, "RNDADDENTROPY");
    try {
      ioctlVal(fd, RND.RESEEDCRNG, 0, "RNDRESEEDCRNG");
    } catch (e) {
      if (!(e instanceof SysError && e.errno === E.INVAL)) throw e; // before Linux 4.17
    }
  } finally {
    closeFd(fd);
  }
}
