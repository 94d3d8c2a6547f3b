/**
 * The KVM vCPU-fd ioctls (CPUID, registers, MSRs, FPU, LAPIC) and the shared
 * kvm_run page that KVM_RUN fills in on each exit.
 * @module
 */
import { ioctlBuf } from "./ioctl.ts";
import { MAP, map, type Mapping, PROT, unmap } from "./mmap.ts";
import { FfiError } from "./errors.ts";
import {
  type CpuidEntry,
  decodeRegs,
  decodeSregs,
  encodeCpuid,
  encodeFpu,
  encodeMsrs,
  encodeRegs,
  encodeSregs,
  EXIT,
  KVM,
  MP_STATE_NAMES,
  type MsrEntry,
  type Regs,
  type Sregs,
} from "./kvm_structs.ts";
import { mappingAddress } from "./kvm_vm.ts";

/** KVM_SET_CPUID2 on a vCPU. */
export function setCpuid2(vcpuFd: number, entries: readonly CpuidEntry[]): void {
  ioctlBuf(vcpuFd, KVM.SET_CPUID2, encodeCpuid(entries), "KVM_SET_CPUID2");
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

/** KVM_SET_MSRS; fails unless the kernel accepted every entry. */
export function setMsrs(vcpuFd: number, entries: readonly MsrEntry[]): void {
  const n = ioctlBuf(vcpuFd, KVM.SET_MSRS, encodeMsrs(entries), "KVM_SET_MSRS");
  if (n !== entries.length) {
    const bad = entries[n];
    throw new FfiError(
      "FailedPrecondition",
      `KVM_SET_MSRS: MSR 0x${bad.index.toString(16)} was rejected`,
    );
  }
}

/** KVM_GET_MP_STATE: "runnable", "halted", "uninitialized" (an AP before INIT/SIPI), ... */
export function getMpState(vcpuFd: number): string {
  const b = new Uint8Array(4);
  ioctlBuf(vcpuFd, KVM.GET_MP_STATE, b, "KVM_GET_MP_STATE");
  const v = new DataView(b.buffer).getUint32(0, true);
  return MP_STATE_NAMES[v] ?? `mp state ${v}`;
}

/** KVM_SET_FPU with the x87 control word and MXCSR; everything else zero. */
export function setFpu(vcpuFd: number, fcw: number, mxcsr: number): void {
  ioctlBuf(vcpuFd, KVM.SET_FPU, encodeFpu(fcw, mxcsr), "KVM_SET_FPU");
}

/** KVM_GET_LAPIC: the 1 KiB local APIC register page. */
export function getLapic(vcpuFd: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(1024);
  ioctlBuf(vcpuFd, KVM.GET_LAPIC, b, "KVM_GET_LAPIC");
  return b;
}

/** KVM_SET_LAPIC. */
export function setLapic(vcpuFd: number, page: Uint8Array<ArrayBuffer>): void {
  if (page.length !== 1024) {
    throw new FfiError("InvalidArgument", `LAPIC page must be 1024 bytes, got ${page.length}`);
  }
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
      throw new FfiError(
        "Internal",
        `kvm_run I/O data at ${offset}+${len} lies outside the run page`,
      );
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
