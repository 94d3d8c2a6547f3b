/**
 * The CPU state a kernel expects at its entry: a flat GDT, identity page
 * tables for the 64-bit entry, and the register values for the 64-bit and
 * PVH (32-bit, paging off) protocols.
 * @module
 */
import type { Regs, Segment, Sregs } from "../../../ffi/kvm.ts";
import { emptyRegs } from "../../../ffi/kvm.ts";
import type { GuestMemory } from "../memory.ts";
import { BOOT_STACK_ADDR, GDT_ADDR, IDT_ADDR, PD_ADDR, PDPT_ADDR, PML4_ADDR } from "../layout.ts";

/** GDT descriptors: null, code, data, TSS (selectors 0x08, 0x10, 0x18). */
export const GDT_64 = [0n, 0x00af9b000000ffffn, 0x00cf93000000ffffn, 0x008f8b000000ffffn];
export const GDT_32 = [0n, 0x00cf9b000000ffffn, 0x00cf93000000ffffn, 0x008f8b000000ffffn];

/** Page-table size mapped with 2 MiB pages: the first 4 GiB. */
const IDENTITY_MAPPED_GIB = 4;

const CR0_PE = 1n;
const CR0_ET = 0x10n;
const CR0_PG = 0x8000_0000n;
const CR4_PAE = 0x20n;
const EFER_LME = 0x100n;
const EFER_LMA = 0x400n;

/** Decodes a GDT descriptor into a kvm_segment with the given selector index. */
export function segmentFromDescriptor(index: number, d: bigint): Segment {
  const base = ((d >> 16n) & 0xffffffn) | (((d >> 56n) & 0xffn) << 24n);
  const limitRaw = Number((d & 0xffffn) | (((d >> 48n) & 0xfn) << 16n));
  const g = Number((d >> 55n) & 1n);
  return {
    base,
    limit: g ? limitRaw * 4096 + 4095 : limitRaw,
    selector: index * 8,
    type: Number((d >> 40n) & 0xfn),
    present: Number((d >> 47n) & 1n),
    dpl: Number((d >> 45n) & 3n),
    db: Number((d >> 54n) & 1n),
    s: Number((d >> 44n) & 1n),
    l: Number((d >> 53n) & 1n),
    g,
    avl: Number((d >> 52n) & 1n),
    unusable: Number((d >> 47n) & 1n) ? 0 : 1,
  };
}

/** Writes `gdt` at {@link GDT_ADDR} and an empty IDT. */
export function writeGdt(mem: GuestMemory, gdt: readonly bigint[]): void {
  gdt.forEach((d, i) => mem.setU64(GDT_ADDR + i * 8, d));
  mem.setU64(IDT_ADDR, 0n);
}

/** Writes identity page tables for the first 4 GiB with 2 MiB pages. */
export function writeIdentityPageTables(mem: GuestMemory): void {
  mem.slice(PML4_ADDR, 0x1000).fill(0);
  mem.slice(PDPT_ADDR, 0x1000).fill(0);
  mem.setU64(PML4_ADDR, PDPT_ADDR | 3); // present, writable
  for (let g = 0; g < IDENTITY_MAPPED_GIB; g++) {
    const pd = PD_ADDR + g * 0x1000;
    mem.setU64(PDPT_ADDR + g * 8, pd | 3);
    for (let i = 0; i < 512; i++) {
      // present | writable | page size (2 MiB)
      mem.setU64(pd + i * 8, (BigInt(g) << 30n) | (BigInt(i) << 21n) | 0x83n);
    }
  }
}

function withSegments(base: Sregs, gdt: readonly bigint[]): Sregs {
  const code = segmentFromDescriptor(1, gdt[1]);
  const data = segmentFromDescriptor(2, gdt[2]);
  return {
    ...base,
    cs: code,
    ds: data,
    es: data,
    fs: data,
    gs: data,
    ss: data,
    tr: segmentFromDescriptor(3, gdt[3]),
    gdt: { base: BigInt(GDT_ADDR), limit: gdt.length * 8 - 1 },
    idt: { base: BigInt(IDT_ADDR), limit: 7 },
  };
}

/** Special registers for the 64-bit entry: long mode, paging on. */
export function longModeSregs(base: Sregs): Sregs {
  return {
    ...withSegments(base, GDT_64),
    cr0: base.cr0 | CR0_PE | CR0_ET | CR0_PG,
    cr3: BigInt(PML4_ADDR),
    cr4: base.cr4 | CR4_PAE,
    efer: base.efer | EFER_LME | EFER_LMA,
  };
}

/** Special registers for the PVH entry: 32-bit protected mode, paging off. */
export function pvhSregs(base: Sregs): Sregs {
  return {
    ...withSegments(base, GDT_32),
    cr0: (base.cr0 | CR0_PE | CR0_ET) & ~CR0_PG,
    cr4: 0n,
    efer: 0n,
  };
}

/** General registers for the 64-bit entry: RSI = zero page. */
export function longModeRegs(entry: number, zeroPage: number): Regs {
  const r = emptyRegs();
  r.rip = BigInt(entry);
  r.rsi = BigInt(zeroPage);
  r.rsp = BigInt(BOOT_STACK_ADDR);
  r.rbp = BigInt(BOOT_STACK_ADDR);
  return r;
}

/** General registers for the PVH entry: RBX = hvm_start_info. */
export function pvhRegs(entry: number, startInfo: number): Regs {
  const r = emptyRegs();
  r.rip = BigInt(entry);
  r.rbx = BigInt(startInfo);
  return r;
}
