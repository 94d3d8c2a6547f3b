/**
 * The Linux zero page (`struct boot_params`) and the e820 memory map handed
 * to a kernel entered through its 64-bit entry point.
 * @module
 */
import { InvalidArgumentError } from "../../../common/errors.ts";
import { EBDA_START, HIMEM_START } from "../layout.ts";
import type { GuestMemory } from "../memory.ts";

/** E820 range types. */
export const E820 = { RAM: 1, RESERVED: 2 } as const;

/** boot_params.acpi_rsdp_addr (u64). */
const ACPI_RSDP_OFFSET = 0x070;

/** One e820 entry. */
export interface E820Entry {
  addr: number;
  size: number;
  type: number;
}

/** Offsets inside boot_params (asm/bootparam.h). */
export const BP = {
  E820_ENTRIES: 0x1e8,
  SETUP_HEADER: 0x1f1,
  BOOT_FLAG: 0x1fe,
  HEADER: 0x202,
  VERSION: 0x206,
  TYPE_OF_LOADER: 0x210,
  LOADFLAGS: 0x211,
  RAMDISK_IMAGE: 0x218,
  RAMDISK_SIZE: 0x21c,
  CMD_LINE_PTR: 0x228,
  KERNEL_ALIGNMENT: 0x230,
  CMDLINE_SIZE: 0x238,
  E820_TABLE: 0x2d0,
} as const;
const E820_MAX_ENTRIES = 128;

/**
 * The e820 map for guest RAM: low memory below the EBDA, the EBDA/BIOS area
 * (MP and ACPI tables) reserved, then RAM from 1 MiB.
 */
export function e820Map(mem: GuestMemory): E820Entry[] {
  const out: E820Entry[] = [];
  for (const r of mem.regions) {
    if (r.guestAddr === 0) {
      out.push({ addr: 0, size: Math.min(EBDA_START, r.size), type: E820.RAM });
      out.push({ addr: EBDA_START, size: HIMEM_START - EBDA_START, type: E820.RESERVED });
      if (r.size > HIMEM_START) {
        out.push({ addr: HIMEM_START, size: r.size - HIMEM_START, type: E820.RAM });
      }
    } else {
      out.push({ addr: r.guestAddr, size: r.size, type: E820.RAM });
    }
  }
  return out;
}

/** Inputs of {@link buildBootParams}. */
interface BootParamsInput {
  /** The kernel's own setup header (bzImage), copied in first. */
  setupHeader?: Uint8Array;
  cmdlineAddr: number;
  /** Length of the command line without its NUL. */
  cmdlineSize: number;
  initrd?: { addr: number; size: number };
  e820: readonly E820Entry[];
  /** Where the ACPI RSDP is, when the guest has ACPI tables. */
  acpiRsdp?: number;
}

/** Builds the 4 KiB zero page. */
export function buildBootParams(p: BootParamsInput): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(4096);
  const v = new DataView(b.buffer);
  if (p.setupHeader) {
    if (BP.SETUP_HEADER + p.setupHeader.length > BP.E820_TABLE - 0x40) {
      throw new InvalidArgumentError(`Setup header of ${p.setupHeader.length} bytes is too long`);
    }
    b.set(p.setupHeader, BP.SETUP_HEADER);
  } else {
    // A vmlinux has no header: tell the kernel its alignment as the protocol asks.
    v.setUint32(BP.KERNEL_ALIGNMENT, 0x0100_0000, true);
  }
  v.setUint16(BP.BOOT_FLAG, 0xaa55, true);
  v.setUint32(BP.HEADER, 0x53726448, true);
  v.setUint8(BP.TYPE_OF_LOADER, 0xff);
  v.setUint32(BP.CMD_LINE_PTR, p.cmdlineAddr, true);
  v.setUint32(BP.CMDLINE_SIZE, p.cmdlineSize, true);
  if (p.initrd) {
    v.setUint32(BP.RAMDISK_IMAGE, p.initrd.addr, true);
    v.setUint32(BP.RAMDISK_SIZE, p.initrd.size, true);
  }
  if (p.acpiRsdp) v.setBigUint64(ACPI_RSDP_OFFSET, BigInt(p.acpiRsdp), true);
  if (p.e820.length > E820_MAX_ENTRIES) {
    throw new InvalidArgumentError(
      `${p.e820.length} e820 entries exceed the zero page's ${E820_MAX_ENTRIES}`,
    );
  }
  v.setUint8(BP.E820_ENTRIES, p.e820.length);
  p.e820.forEach((e, i) => {
    const o = BP.E820_TABLE + i * 20;
    v.setBigUint64(o, BigInt(e.addr), true);
    v.setBigUint64(o + 8, BigInt(e.size), true);
    v.setUint32(o + 16, e.type, true);
  });
  return b;
}

/**
 * Where an initrd of `size` bytes goes: page-aligned at the top of the first
 * region, below `addrMax`, above `kernelEnd`.
 */
export function initrdAddress(
  mem: GuestMemory,
  size: number,
  kernelEnd: number,
  addrMax = 0x7fff_ffff,
): number {
  const low = mem.regions[0];
  const top = Math.min(low.guestAddr + low.size, addrMax + 1);
  const addr = Math.floor((top - size) / 4096) * 4096;
  if (addr < kernelEnd) {
    throw new InvalidArgumentError(
      `Initrd of ${size} bytes does not fit above the kernel in guest memory`,
    );
  }
  return addr;
}
