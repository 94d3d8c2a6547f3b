/**
 * The PVH boot structure (`struct hvm_start_info`, version 1) for kernels
 * entered at their 32-bit PVH entry with paging off.
 * @module
 */
import type { E820Entry } from "./boot_params.ts";

const XEN_HVM_START_MAGIC = 0x336ec578;

/** Inputs of {@link buildPvhStartInfo}. */
interface PvhInput {
  cmdlineAddr: number;
  memmapAddr: number;
  /** Address of the module list (one entry for an initrd). */
  modlistAddr: number;
  initrd?: { addr: number; size: number };
  e820: readonly E820Entry[];
  acpiRsdp?: number;
}

/** hvm_start_info (56 bytes), its module list (32 bytes) and memory map. */
export function buildPvhStartInfo(
  p: PvhInput,
): {
  startInfo: Uint8Array<ArrayBuffer>;
  modlist: Uint8Array<ArrayBuffer>;
  memmap: Uint8Array<ArrayBuffer>;
} {
  const startInfo = new Uint8Array(56);
  const s = new DataView(startInfo.buffer);
  s.setUint32(0, XEN_HVM_START_MAGIC, true);
  s.setUint32(4, 1, true); // version 1: has the memory map
  s.setUint32(12, p.initrd ? 1 : 0, true); // nr_modules
  s.setBigUint64(16, BigInt(p.initrd ? p.modlistAddr : 0), true);
  s.setBigUint64(24, BigInt(p.cmdlineAddr), true);
  s.setBigUint64(32, BigInt(p.acpiRsdp ?? 0), true);
  s.setBigUint64(40, BigInt(p.memmapAddr), true);
  s.setUint32(48, p.e820.length, true);
  const modlist = new Uint8Array(32);
  if (p.initrd) {
    const m = new DataView(modlist.buffer);
    m.setBigUint64(0, BigInt(p.initrd.addr), true);
    m.setBigUint64(8, BigInt(p.initrd.size), true);
  }
  const memmap = new Uint8Array(p.e820.length * 24);
  const mm = new DataView(memmap.buffer);
  p.e820.forEach((e, i) => {
    mm.setBigUint64(i * 24, BigInt(e.addr), true);
    mm.setBigUint64(i * 24 + 8, BigInt(e.size), true);
    mm.setUint32(i * 24 + 16, e.type, true);
  });
  return { startInfo, modlist, memmap };
}
