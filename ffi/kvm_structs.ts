/**
 * KVM's x86_64 ABI as plain data: ioctl numbers, capability and exit codes,
 * and encoders/decoders for the kernel structs (layouts from linux/kvm.h,
 * 6.1 UAPI). Nothing here touches a file descriptor, so every codec is tested
 * without /dev/kvm (kvm_structs_test.ts); the ioctls live in kvm_system.ts,
 * kvm_vm.ts and kvm_vcpu.ts.
 * @module
 */

/** ioctl request numbers (x86_64). */
export const KVM = {
  GET_API_VERSION: 0xae00,
  CREATE_VM: 0xae01,
  CHECK_EXTENSION: 0xae03,
  GET_VCPU_MMAP_SIZE: 0xae04,
  GET_SUPPORTED_CPUID: 0xc008ae05,
  SET_USER_MEMORY_REGION: 0x4020ae46,
  CREATE_VCPU: 0xae41,
  SET_TSS_ADDR: 0xae47,
  CREATE_IRQCHIP: 0xae60,
  CREATE_PIT2: 0x4040ae77,
  IRQFD: 0x4020ae76,
  RUN: 0xae80,
  GET_REGS: 0x8090ae81,
  SET_REGS: 0x4090ae82,
  GET_SREGS: 0x8138ae83,
  SET_SREGS: 0x4138ae84,
  GET_MSRS: 0xc008ae88,
  SET_MSRS: 0x4008ae89,
  SET_FPU: 0x41a0ae8d,
  GET_LAPIC: 0x8400ae8e,
  SET_LAPIC: 0x4400ae8f,
  SET_CPUID2: 0x4008ae90,
  GET_MP_STATE: 0x8004ae98,
} as const;

/** struct kvm_mp_state values, by name (KVM_GET_MP_STATE). */
export const MP_STATE_NAMES = [
  "runnable",
  "uninitialized",
  "init-received",
  "halted",
  "sipi-received",
] as const;

/** The only KVM API version the kernel has ever shipped. */
export const KVM_API_VERSION = 12;

/** KVM_CAP_* numbers this project checks. */
export const CAP = {
  IRQCHIP: 0,
  USER_MEMORY: 3,
  IRQFD: 32,
  IMMEDIATE_EXIT: 136,
} as const;

/** kvm_run exit reasons. */
export const EXIT = {
  UNKNOWN: 0,
  EXCEPTION: 1,
  IO: 2,
  HYPERCALL: 3,
  DEBUG: 4,
  HLT: 5,
  MMIO: 6,
  IRQ_WINDOW_OPEN: 7,
  SHUTDOWN: 8,
  FAIL_ENTRY: 9,
  INTR: 10,
  INTERNAL_ERROR: 17,
  SYSTEM_EVENT: 24,
} as const;

/** One guest-physical slot backed by host memory. */
export interface MemoryRegion {
  slot: number;
  flags?: number;
  guestPhysAddr: bigint;
  size: bigint;
  /** Host virtual address of the backing memory. */
  userspaceAddr: bigint;
}

/** Encodes struct kvm_userspace_memory_region (32 bytes). */
export function encodeMemoryRegion(r: MemoryRegion): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(32);
  const v = new DataView(b.buffer);
  v.setUint32(0, r.slot, true);
  v.setUint32(4, r.flags ?? 0, true);
  v.setBigUint64(8, r.guestPhysAddr, true);
  v.setBigUint64(16, r.size, true);
  v.setBigUint64(24, r.userspaceAddr, true);
  return b;
}

/** Encodes struct kvm_irqfd (32 bytes). */
export function encodeIrqfd(
  eventFd: number,
  gsi: number,
  deassign = false,
): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(32);
  const v = new DataView(b.buffer);
  v.setUint32(0, eventFd, true);
  v.setUint32(4, gsi, true);
  v.setUint32(8, deassign ? 1 : 0, true);
  return b;
}

/** Encodes struct kvm_pit_config with a dummy speaker port (64 bytes). */
export function encodePitConfig(): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(64);
  new DataView(b.buffer).setUint32(0, 1, true); // KVM_PIT_SPEAKER_DUMMY
  return b;
}

/** Encodes struct kvm_fpu with the x87 control word and MXCSR; everything else zero. */
export function encodeFpu(fcw: number, mxcsr: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(416);
  const v = new DataView(b.buffer);
  v.setUint16(128, fcw, true);
  v.setUint32(408, mxcsr, true);
  return b;
}

/** One CPUID leaf (struct kvm_cpuid_entry2). */
export interface CpuidEntry {
  function: number;
  index: number;
  flags: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

/** Encodes struct kvm_cpuid2 with its entries. */
export function encodeCpuid(
  entries: readonly CpuidEntry[],
  capacity = entries.length,
): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(8 + capacity * 40);
  const v = new DataView(b.buffer);
  v.setUint32(0, capacity, true);
  entries.forEach((e, i) => {
    const o = 8 + i * 40;
    v.setUint32(o, e.function, true);
    v.setUint32(o + 4, e.index, true);
    v.setUint32(o + 8, e.flags, true);
    v.setUint32(o + 12, e.eax, true);
    v.setUint32(o + 16, e.ebx, true);
    v.setUint32(o + 20, e.ecx, true);
    v.setUint32(o + 24, e.edx, true);
  });
  return b;
}

/** Decodes struct kvm_cpuid2 (nent entries). */
export function decodeCpuid(b: Uint8Array<ArrayBuffer>): CpuidEntry[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n = v.getUint32(0, true);
  const out: CpuidEntry[] = [];
  for (let i = 0; i < n; i++) {
    const o = 8 + i * 40;
    out.push({
      function: v.getUint32(o, true),
      index: v.getUint32(o + 4, true),
      flags: v.getUint32(o + 8, true),
      eax: v.getUint32(o + 12, true),
      ebx: v.getUint32(o + 16, true),
      ecx: v.getUint32(o + 20, true),
      edx: v.getUint32(o + 24, true),
    });
  }
  return out;
}

const REG_NAMES = [
  "rax",
  "rbx",
  "rcx",
  "rdx",
  "rsi",
  "rdi",
  "rsp",
  "rbp",
  "r8",
  "r9",
  "r10",
  "r11",
  "r12",
  "r13",
  "r14",
  "r15",
  "rip",
  "rflags",
] as const;

/** struct kvm_regs: the general-purpose registers, rip and rflags. */
export type Regs = Record<(typeof REG_NAMES)[number], bigint>;

/** All-zero registers with the reserved RFLAGS bit 1 set. */
export function emptyRegs(): Regs {
  const r = Object.fromEntries(REG_NAMES.map((n) => [n, 0n])) as Regs;
  r.rflags = 2n;
  return r;
}

/** Encodes struct kvm_regs (144 bytes). */
export function encodeRegs(r: Regs): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(144);
  const v = new DataView(b.buffer);
  REG_NAMES.forEach((n, i) => v.setBigUint64(i * 8, r[n], true));
  return b;
}

/** Decodes struct kvm_regs. */
export function decodeRegs(b: Uint8Array<ArrayBuffer>): Regs {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return Object.fromEntries(REG_NAMES.map((n, i) => [n, v.getBigUint64(i * 8, true)])) as Regs;
}

/** struct kvm_segment. */
export interface Segment {
  base: bigint;
  limit: number;
  selector: number;
  type: number;
  present: number;
  dpl: number;
  db: number;
  s: number;
  l: number;
  g: number;
  avl: number;
  unusable: number;
}

/** struct kvm_dtable. */
interface DescriptorTable {
  base: bigint;
  limit: number;
}

const SEGMENTS = ["cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt"] as const;

/** struct kvm_sregs (the interrupt bitmap is kept as raw words). */
export interface Sregs {
  cs: Segment;
  ds: Segment;
  es: Segment;
  fs: Segment;
  gs: Segment;
  ss: Segment;
  tr: Segment;
  ldt: Segment;
  gdt: DescriptorTable;
  idt: DescriptorTable;
  cr0: bigint;
  cr2: bigint;
  cr3: bigint;
  cr4: bigint;
  cr8: bigint;
  efer: bigint;
  apicBase: bigint;
  interruptBitmap: [bigint, bigint, bigint, bigint];
}

function readSegment(v: DataView, o: number): Segment {
  return {
    base: v.getBigUint64(o, true),
    limit: v.getUint32(o + 8, true),
    selector: v.getUint16(o + 12, true),
    type: v.getUint8(o + 14),
    present: v.getUint8(o + 15),
    dpl: v.getUint8(o + 16),
    db: v.getUint8(o + 17),
    s: v.getUint8(o + 18),
    l: v.getUint8(o + 19),
    g: v.getUint8(o + 20),
    avl: v.getUint8(o + 21),
    unusable: v.getUint8(o + 22),
  };
}

function writeSegment(v: DataView, o: number, s: Segment): void {
  v.setBigUint64(o, s.base, true);
  v.setUint32(o + 8, s.limit, true);
  v.setUint16(o + 12, s.selector, true);
  v.setUint8(o + 14, s.type);
  v.setUint8(o + 15, s.present);
  v.setUint8(o + 16, s.dpl);
  v.setUint8(o + 17, s.db);
  v.setUint8(o + 18, s.s);
  v.setUint8(o + 19, s.l);
  v.setUint8(o + 20, s.g);
  v.setUint8(o + 21, s.avl);
  v.setUint8(o + 22, s.unusable);
}

/** Decodes struct kvm_sregs (312 bytes). */
export function decodeSregs(b: Uint8Array<ArrayBuffer>): Sregs {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const segs = Object.fromEntries(SEGMENTS.map((n, i) => [n, readSegment(v, i * 24)]));
  return {
    ...(segs as Record<(typeof SEGMENTS)[number], Segment>),
    gdt: { base: v.getBigUint64(192, true), limit: v.getUint16(200, true) },
    idt: { base: v.getBigUint64(208, true), limit: v.getUint16(216, true) },
    cr0: v.getBigUint64(224, true),
    cr2: v.getBigUint64(232, true),
    cr3: v.getBigUint64(240, true),
    cr4: v.getBigUint64(248, true),
    cr8: v.getBigUint64(256, true),
    efer: v.getBigUint64(264, true),
    apicBase: v.getBigUint64(272, true),
    interruptBitmap: [0, 1, 2, 3].map((i) => v.getBigUint64(280 + i * 8, true)) as [
      bigint,
      bigint,
      bigint,
      bigint,
    ],
  };
}

/** Encodes struct kvm_sregs. */
export function encodeSregs(s: Sregs): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(312);
  const v = new DataView(b.buffer);
  SEGMENTS.forEach((n, i) => writeSegment(v, i * 24, s[n]));
  v.setBigUint64(192, s.gdt.base, true);
  v.setUint16(200, s.gdt.limit, true);
  v.setBigUint64(208, s.idt.base, true);
  v.setUint16(216, s.idt.limit, true);
  v.setBigUint64(224, s.cr0, true);
  v.setBigUint64(232, s.cr2, true);
  v.setBigUint64(240, s.cr3, true);
  v.setBigUint64(248, s.cr4, true);
  v.setBigUint64(256, s.cr8, true);
  v.setBigUint64(264, s.efer, true);
  v.setBigUint64(272, s.apicBase, true);
  s.interruptBitmap.forEach((w, i) => v.setBigUint64(280 + i * 8, w, true));
  return b;
}

/** One model-specific register value. */
export interface MsrEntry {
  index: number;
  data: bigint;
}

/** Encodes struct kvm_msrs with its entries. */
export function encodeMsrs(entries: readonly MsrEntry[]): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(8 + entries.length * 16);
  const v = new DataView(b.buffer);
  v.setUint32(0, entries.length, true);
  entries.forEach((e, i) => {
    v.setUint32(8 + i * 16, e.index, true);
    v.setBigUint64(16 + i * 16, e.data, true);
  });
  return b;
}
