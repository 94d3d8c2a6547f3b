/**
 * Loader for a compressed `bzImage` (Linux x86 boot protocol): validates the
 * setup header, copies the protected-mode kernel to 1 MiB and returns the
 * 64-bit entry (load address + 0x200) with the header bytes the zero page
 * needs.
 * @module
 */
import type { GuestMemory } from "../memory.ts";
import { HIMEM_START } from "../layout.ts";
import { KernelImageError, type LoadedKernel } from "./elf.ts";

/** The 64-bit entry lies this far into the protected-mode kernel. */
export const BZIMAGE_64BIT_ENTRY_OFFSET = 0x200;
const HDRS_MAGIC = 0x53726448; // "HdrS"
const XLF_KERNEL_64 = 1;
const LOADED_HIGH = 1;

/** A loaded bzImage: the kernel plus its setup header (0x1F1 up to its end). */
interface LoadedBzImage extends LoadedKernel {
  setupHeader: Uint8Array<ArrayBuffer>;
  /** Boot protocol version, e.g. 0x020f. */
  protocolVersion: number;
  /** Highest address an initrd may end at (initrd_addr_max). */
  initrdAddrMax: number;
}

/** Whether `image` carries a Linux setup header. */
export function isBzImage(image: Uint8Array): boolean {
  if (image.length < 0x264) return false;
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength);
  return v.getUint16(0x1fe, true) === 0xaa55 && v.getUint32(0x202, true) === HDRS_MAGIC;
}

/** Loads a bzImage at 1 MiB; throws {@link KernelImageError} for bad images. */
export function loadBzImage(mem: GuestMemory, image: Uint8Array<ArrayBuffer>): LoadedBzImage {
  if (!isBzImage(image)) throw new KernelImageError("Kernel is not a bzImage (no HdrS header)");
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const version = v.getUint16(0x206, true);
  if (version < 0x020c) {
    throw new KernelImageError(
      `bzImage boot protocol 0x${version.toString(16)} is too old for a 64-bit entry (need 0x20c)`,
    );
  }
  if ((image[0x211] & LOADED_HIGH) === 0) {
    throw new KernelImageError("bzImage is not loaded high (zImage is not supported)");
  }
  if ((v.getUint16(0x236, true) & XLF_KERNEL_64) === 0) {
    throw new KernelImageError("bzImage has no 64-bit entry point");
  }
  const setupSects = image[0x1f1] || 4;
  const setupSize = (setupSects + 1) * 512;
  if (setupSize >= image.length) throw new KernelImageError("bzImage is truncated");
  const kernel = image.subarray(setupSize);
  const initSize = v.getUint32(0x260, true);
  const need = Math.max(kernel.length, initSize);
  if (!mem.contains(HIMEM_START, need)) {
    throw new KernelImageError(`bzImage needs ${need} bytes from 1 MiB; guest memory is too small`);
  }
  mem.write(HIMEM_START, kernel);
  const headerEnd = 0x202 + image[0x201];
  return {
    entry64: HIMEM_START + BZIMAGE_64BIT_ENTRY_OFFSET,
    end: HIMEM_START + need,
    setupHeader: image.slice(0x1f1, headerEnd),
    protocolVersion: version,
    initrdAddrMax: v.getUint32(0x22c, true),
  };
}
