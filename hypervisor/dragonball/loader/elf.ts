/**
 * Loader for an uncompressed ELF64 `vmlinux`: copies each PT_LOAD segment to
 * its physical address and finds the 64-bit entry (`e_entry`, a physical
 * address for Linux) and the PVH entry from the Xen ELF note when present.
 * @module
 */
import type { GuestMemory } from "../memory.ts";

/** A kernel image that cannot be loaded. */
export class KernelImageError extends Error {
  /** The configured kernel file cannot be booted. */
  readonly code = "InvalidArgument";
  constructor(message: string) {
    super(message);
    this.name = "KernelImageError";
  }
}

/** What a loader placed in guest memory. */
export interface LoadedKernel {
  /** Physical address of the 64-bit entry point. */
  entry64: number;
  /** Physical address of the 32-bit PVH entry, when the image has one. */
  pvhEntry?: number;
  /** First byte past the loaded image (for placing other things). */
  end: number;
}

const PT_LOAD = 1;
const PT_NOTE = 4;
const XEN_ELFNOTE_PHYS32_ENTRY = 18;

/** Whether `image` starts with the ELF magic. */
export function isElf(image: Uint8Array): boolean {
  return image.length >= 4 && image[0] === 0x7f && image[1] === 0x45 && image[2] === 0x4c &&
    image[3] === 0x46;
}

/** Parsed program header. */
interface Phdr {
  type: number;
  offset: number;
  paddr: number;
  filesz: number;
  memsz: number;
}

function programHeaders(image: Uint8Array<ArrayBuffer>): { entry: number; phdrs: Phdr[] } {
  if (!isElf(image)) throw new KernelImageError("Kernel is not an ELF file");
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (image.length < 64) throw new KernelImageError("ELF header is truncated");
  if (image[4] !== 2) throw new KernelImageError("Kernel ELF is not 64-bit");
  if (image[5] !== 1) throw new KernelImageError("Kernel ELF is not little-endian");
  if (v.getUint16(18, true) !== 62) throw new KernelImageError("Kernel ELF is not for x86_64");
  const entry = Number(v.getBigUint64(24, true));
  const phoff = Number(v.getBigUint64(32, true));
  const phentsize = v.getUint16(54, true);
  const phnum = v.getUint16(56, true);
  if (phentsize < 56 || phoff + phnum * phentsize > image.length) {
    throw new KernelImageError("ELF program headers lie outside the file");
  }
  const phdrs: Phdr[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    const p = {
      type: v.getUint32(o, true),
      offset: Number(v.getBigUint64(o + 8, true)),
      paddr: Number(v.getBigUint64(o + 24, true)),
      filesz: Number(v.getBigUint64(o + 32, true)),
      memsz: Number(v.getBigUint64(o + 40, true)),
    };
    if (p.offset + p.filesz > image.length || p.filesz > p.memsz) {
      throw new KernelImageError(`ELF segment ${i} lies outside the file`);
    }
    phdrs.push(p);
  }
  return { entry, phdrs };
}

/** Finds XEN_ELFNOTE_PHYS32_ENTRY in the PT_NOTE segments. */
function pvhEntry(image: Uint8Array<ArrayBuffer>, phdrs: Phdr[]): number | undefined {
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const align4 = (n: number) => (n + 3) & ~3;
  for (const p of phdrs.filter((p) => p.type === PT_NOTE)) {
    let o = p.offset;
    const end = p.offset + p.filesz;
    while (o + 12 <= end) {
      const namesz = v.getUint32(o, true);
      const descsz = v.getUint32(o + 4, true);
      const type = v.getUint32(o + 8, true);
      const name = new TextDecoder().decode(image.subarray(o + 12, o + 12 + namesz)).replace(
        /\0+$/,
        "",
      );
      const desc = o + 12 + align4(namesz);
      if (desc + descsz > end) break;
      if (name === "Xen" && type === XEN_ELFNOTE_PHYS32_ENTRY && descsz >= 4) {
        return v.getUint32(desc, true);
      }
      o = desc + align4(descsz);
    }
  }
  return undefined;
}

/** Loads `image` into `mem`; throws {@link KernelImageError} for bad images. */
export function loadElf(mem: GuestMemory, image: Uint8Array<ArrayBuffer>): LoadedKernel {
  const { entry, phdrs } = programHeaders(image);
  let end = 0;
  // Segments never overlap, so in fresh memory their bss tails are already zero.
  const fresh = mem.pristine;
  const loads = phdrs.filter((p) => p.type === PT_LOAD);
  if (loads.length === 0) throw new KernelImageError("Kernel ELF has no loadable segment");
  for (const p of loads) {
    if (!mem.contains(p.paddr, p.memsz)) {
      throw new KernelImageError(
        `Kernel segment at 0x${
          p.paddr.toString(16)
        } (${p.memsz} bytes) does not fit in guest memory`,
      );
    }
    mem.write(p.paddr, image.subarray(p.offset, p.offset + p.filesz));
    mem.zero(p.paddr + p.filesz, p.memsz - p.filesz, fresh);
    end = Math.max(end, p.paddr + p.memsz);
  }
  return { entry64: entry, pvhEntry: pvhEntry(image, phdrs), end };
}
