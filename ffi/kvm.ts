/**
 * Typed bindings for the KVM ioctls a minimal x86_64 VMM needs, with encoders
 * and decoders for the kernel structs (layouts from linux/kvm.h, 6.1 UAPI).
 * Callers see fds as numbers and structs as plain objects; no pointer leaves
 * this module except inside {@link KvmRun}, which owns its mapping.
 * @module
 */
import {
  check,
  closeFd,
  ioctlBuf,
  ioctlVal,
  MAP,
  map,
  type Mapping,
  O,
  openFd,
  PROT,
  unmap,
} from "./libc.ts";

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
  SET_IDENTITY_MAP_ADDR: 0x4008ae48,
  CREATE_IRQCHIP: 0xae60,
  IRQ_LINE: 0x4008ae61,
  CREATE_PIT2: 0x4040ae77,
  IRQFD: 0x4020ae76,
  IOEVENTFD: 0x4040ae79,
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
} as const;

/** The only KVM API version the kernel has ever shipped. */
export const KVM_API_VERSION = 12;

/** KVM_CAP_* numbers this project checks. */
export const CAP = {
  IRQCHIP: 0,
  USER_MEMORY: 3,
  SET_TSS_ADDR: 4,
  IRQFD: 32,
  PIT2: 33,
  IOEVENTFD: 36,
  MAX_VCPUS: 66,
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

/** Opens /dev/kvm and checks the API version; the caller closes the fd. */
export function openKvm(path = "/dev/kvm"): number {
  const fd = openFd(path, O.RDWR);
  try {
    const version = ioctlVal(fd, KVM.GET_API_VERSION, 0, "KVM_GET_API_VERSION");
    if (version !== KVM_API_VERSION) {
      throw new Error(`KVM API version ${version} is not supported (want ${KVM_API_VERSION})`);
    }
    return fd;
  } catch (e) {
    closeFd(fd);
    throw e;
  }
}

/** KVM_CHECK_EXTENSION: 0 when absent, else a capability-specific value. */
export function checkExtension(fd: number, cap: number): number {
  return ioctlVal(fd, KVM.CHECK_EXTENSION, cap, "KVM_CHECK_EXTENSION");
}

/** KVM_CREATE_VM: a new VM fd (caller closes it). */
export function createVm(kvmFd: number): number {
  return ioctlVal(kvmFd, KVM.CREATE_VM, 0, "KVM_CREATE_VM");
}

/** KVM_GET_VCPU_MMAP_SIZE: bytes to map on each vCPU fd for kvm_run. */
export function vcpuMmapSize(kvmFd: number): number {
  return ioctlVal(kvmFd, KVM.GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
}

/** KVM_CREATE_VCPU: a new vCPU fd (caller closes it). */
export function createVcpu(vmFd: number, id: number): number {
  return ioctlVal(vmFd, KVM.CREATE_VCPU, id, `KVM_CREATE_VCPU ${id}`);
}

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

/** KVM_SET_USER_MEMORY_REGION. */
export function setUserMemoryRegion(vmFd: number, r: MemoryRegion): void {
  ioctlBuf(vmFd, KVM.SET_USER_MEMORY_REGION, encodeMemoryRegion(r), "KVM_SET_USER_MEMORY_REGION");
}

/** The host address of a mapping, for {@link MemoryRegion.userspaceAddr}. */
export function mappingAddress(m: Mapping): bigint {
  return BigInt(Deno.UnsafePointer.value(m.pointer));
}

/** KVM_SET_TSS_ADDR (three pages below 4 GiB that the guest never uses). */
export function setTssAddr(vmFd: number, addr: number): void {
  ioctlVal(vmFd, KVM.SET_TSS_ADDR, addr, "KVM_SET_TSS_ADDR");
}

/** KVM_SET_IDENTITY_MAP_ADDR (one page, used by VMX for real mode). */
export function setIdentityMapAddr(vmFd: number, addr: bigint): void {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, addr, true);
  ioctlBuf(vmFd, KVM.SET_IDENTITY_MAP_ADDR, b, "KVM_SET_IDENTITY_MAP_ADDR");
}

/** KVM_CREATE_IRQCHIP: in-kernel PIC, IOAPIC and a LAPIC per vCPU. */
export function createIrqchip(vmFd: number): void {
  ioctlVal(vmFd, KVM.CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP");
}

/** KVM_CREATE_PIT2 with a dummy speaker port (after the irqchip). */
export function createPit2(vmFd: number): void {
  const b = new Uint8Array(64);
  new DataView(b.buffer).setUint32(0, 1, true); // KVM_PIT_SPEAKER_DUMMY
  ioctlBuf(vmFd, KVM.CREATE_PIT2, b, "KVM_CREATE_PIT2");
}

/** KVM_IRQ_LINE: sets a GSI's level. */
export function irqLine(vmFd: number, irq: number, level: boolean): void {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint32(0, irq, true);
  v.setUint32(4, level ? 1 : 0, true);
  ioctlBuf(vmFd, KVM.IRQ_LINE, b, `KVM_IRQ_LINE ${irq}`);
}

/** KVM_IRQFD: a write to `eventFd` injects an edge on `gsi` (or detaches it). */
export function irqfd(vmFd: number, eventFd: number, gsi: number, deassign = false): void {
  const b = new Uint8Array(32);
  const v = new DataView(b.buffer);
  v.setUint32(0, eventFd, true);
  v.setUint32(4, gsi, true);
  v.setUint32(8, deassign ? 1 : 0, true);
  ioctlBuf(vmFd, KVM.IRQFD, b, `KVM_IRQFD gsi ${gsi}`);
}

/** Options of {@link ioeventfd}. */
export interface IoEventFd {
  eventFd: number;
  addr: bigint;
  len: number;
  /** Only writes of this value signal the fd. */
  datamatch?: bigint;
  pio?: boolean;
  deassign?: boolean;
}

/** KVM_IOEVENTFD: guest writes to `addr` signal `eventFd` without an exit. */
export function ioeventfd(vmFd: number, o: IoEventFd): void {
  const b = new Uint8Array(64);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, o.datamatch ?? 0n, true);
  v.setBigUint64(8, o.addr, true);
  v.setUint32(16, o.len, true);
  v.setInt32(20, o.eventFd, true);
  v.setUint32(
    24,
    (o.datamatch !== undefined ? 1 : 0) | (o.pio ? 2 : 0) | (o.deassign ? 4 : 0),
    true,
  );
  ioctlBuf(vmFd, KVM.IOEVENTFD, b, "KVM_IOEVENTFD");
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
export function encodeCpuid(entries: readonly CpuidEntry[], capacity = entries.length) {
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

/** KVM_GET_SUPPORTED_CPUID on the /dev/kvm fd. */
export function supportedCpuid(kvmFd: number): CpuidEntry[] {
  const b = encodeCpuid([], 256); // KVM_MAX_CPUID_ENTRIES in 6.1 is 256
  ioctlBuf(kvmFd, KVM.GET_SUPPORTED_CPUID, b, "KVM_GET_SUPPORTED_CPUID");
  return decodeCpuid(b);
}

/** KVM_SET_CPUID2 on a vCPU. */
export function setCpuid2(vcpuFd: number, entries: readonly CpuidEntry[]): void {
  ioctlBuf(vcpuFd, KVM.SET_CPUID2, encodeCpuid(entries), "KVM_SET_CPUID2");
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

/** KVM_GET_REGS. */
export function getRegs(vcpuFd: number): Regs {
  const b = new Uint8Array(144);
  ioctlBuf(vcpuFd, KVM.GET_REGS, b, "KVM_GET_REGS");
  return decodeRegs(b);
}

/** KVM_SET_REGS. */
export function setRegs(vcpuFd: number, r: Regs): void {
  ioctlBuf(vcpuFd, KVM.SET_REGS, encodeRegs(r), "KVM_SET_REGS");
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
export interface DescriptorTable {
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

/** KVM_GET_SREGS. */
export function getSregs(vcpuFd: number): Sregs {
  const b = new Uint8Array(312);
  ioctlBuf(vcpuFd, KVM.GET_SREGS, b, "KVM_GET_SREGS");
  return decodeSregs(b);
}

/** KVM_SET_SREGS. */
export function setSregs(vcpuFd: number, s: Sregs): void {
  ioctlBuf(vcpuFd, KVM.SET_SREGS, encodeSregs(s), "KVM_SET_SREGS");
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

/** KVM_SET_MSRS; fails unless the kernel accepted every entry. */
export function setMsrs(vcpuFd: number, entries: readonly MsrEntry[]): void {
  const n = ioctlBuf(vcpuFd, KVM.SET_MSRS, encodeMsrs(entries), "KVM_SET_MSRS");
  if (n !== entries.length) {
    const bad = entries[n];
    throw new Error(`KVM_SET_MSRS: MSR 0x${bad.index.toString(16)} was rejected`);
  }
}

/** KVM_GET_MSRS for the given indexes. */
export function getMsrs(vcpuFd: number, indexes: readonly number[]): MsrEntry[] {
  const b = encodeMsrs(indexes.map((index) => ({ index, data: 0n })));
  const n = ioctlBuf(vcpuFd, KVM.GET_MSRS, b, "KVM_GET_MSRS");
  const v = new DataView(b.buffer);
  return indexes.slice(0, n).map((index, i) => ({
    index,
    data: v.getBigUint64(16 + i * 16, true),
  }));
}

/** KVM_SET_FPU with the x87 control word and MXCSR; everything else zero. */
export function setFpu(vcpuFd: number, fcw: number, mxcsr: number): void {
  const b = new Uint8Array(416);
  const v = new DataView(b.buffer);
  v.setUint16(128, fcw, true);
  v.setUint32(408, mxcsr, true);
  ioctlBuf(vcpuFd, KVM.SET_FPU, b, "KVM_SET_FPU");
}

/** KVM_GET_LAPIC: the 1 KiB local APIC register page. */
export function getLapic(vcpuFd: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(1024);
  ioctlBuf(vcpuFd, KVM.GET_LAPIC, b, "KVM_GET_LAPIC");
  return b;
}

/** KVM_SET_LAPIC. */
export function setLapic(vcpuFd: number, page: Uint8Array<ArrayBuffer>): void {
  if (page.length !== 1024) throw new Error(`LAPIC page must be 1024 bytes, got ${page.length}`);
  ioctlBuf(vcpuFd, KVM.SET_LAPIC, page, "KVM_SET_LAPIC");
}

/**
 * The shared `struct kvm_run` page of one vCPU: exit information the kernel
 * fills in after KVM_RUN returns, and the data area for port I/O.
 */
export class KvmRun {
  readonly #mapping: Mapping;
  readonly #view: DataView;
  #closed = false;

  private constructor(mapping: Mapping) {
    this.#mapping = mapping;
    this.#view = new DataView(mapping.bytes.buffer);
  }

  /** Maps the kvm_run area of `vcpuFd` (size from {@link vcpuMmapSize}). */
  static map(vcpuFd: number, size: number): KvmRun {
    return new KvmRun(map(size, PROT.READ | PROT.WRITE, MAP.SHARED, vcpuFd, 0));
  }

  /** Host address of the page, so another thread can map the same bytes. */
  get address(): bigint {
    return mappingAddress(this.#mapping);
  }

  get size(): number {
    return this.#mapping.length;
  }

  get exitReason(): number {
    return this.#view.getUint32(8, true);
  }

  /** Makes the next (or a signal-interrupted) KVM_RUN return EINTR at once. */
  set immediateExit(on: boolean) {
    this.#view.setUint8(1, on ? 1 : 0);
  }

  /** The port I/O exit: direction, access size, port, repeat count, data. */
  get io(): { out: boolean; size: number; port: number; count: number; data: Uint8Array } {
    const v = this.#view;
    const size = v.getUint8(33);
    const count = v.getUint32(36, true);
    const offset = Number(v.getBigUint64(40, true));
    const len = size * count;
    if (offset + len > this.#mapping.length) {
      throw new Error(`kvm_run I/O data at ${offset}+${len} lies outside the run page`);
    }
    return {
      out: v.getUint8(32) === 1,
      size,
      port: v.getUint16(34, true),
      count,
      data: this.#mapping.bytes.subarray(offset, offset + len),
    };
  }

  /** The MMIO exit: address, write flag and the (up to 8) data bytes. */
  get mmio(): { addr: bigint; write: boolean; data: Uint8Array } {
    const v = this.#view;
    const len = Math.min(v.getUint32(48, true), 8);
    return {
      addr: v.getBigUint64(32, true),
      write: v.getUint8(52) !== 0,
      data: this.#mapping.bytes.subarray(40, 40 + len),
    };
  }

  /** The SYSTEM_EVENT exit type (SHUTDOWN 1, RESET 2, CRASH 3). */
  get systemEventType(): number {
    return this.#view.getUint32(32, true);
  }

  /** A short text for exits that end the VM (fail entry, internal error). */
  describeFailure(): string {
    const v = this.#view;
    switch (this.exitReason) {
      case EXIT.FAIL_ENTRY:
        return `entry failed, hardware reason 0x${v.getBigUint64(32, true).toString(16)}`;
      case EXIT.INTERNAL_ERROR:
        return `internal error, suberror ${v.getUint32(32, true)}`;
      default:
        return `exit reason ${this.exitReason}`;
    }
  }

  /** Unmaps the page; later use throws. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    unmap(this.#mapping);
  }
}

/** Closes a KVM fd, for symmetry with the open functions. */
export function closeKvmFd(fd: number): void {
  check(fd, "close", "negative fd");
  closeFd(fd);
}
