/**
 * What each vCPU of a Linux guest is given at boot: its CPUID, the boot MSRs
 * and the local APIC's LINT0/LINT1 modes. No KVM calls here: `vcpu.ts`
 * applies them.
 * @module
 */
import type { CpuidEntry, MsrEntry } from "../../ffi/kvm.ts";

const LEAF_FEATURES = 0x1;
const LEAF_EXT_TOPOLOGY = 0xb;
const LEAF_V2_EXT_TOPOLOGY = 0x1f;
const ECX_HYPERVISOR = 1 << 31;
const EDX_HTT = 1 << 28;

/**
 * The CPUID a vCPU reports: the host's KVM-supported set with this vCPU's
 * APIC id (leaf 1, and the x2APIC id of leaves 0xb and 0x1f), the logical CPU
 * count, HTT when there is more than one, and the hypervisor bit.
 */
export function vcpuCpuid(
  supported: readonly CpuidEntry[],
  id: number,
  count: number,
): CpuidEntry[] {
  return supported.map((e) => {
    const x = { ...e };
    if (x.function === LEAF_FEATURES) {
      x.ebx = ((x.ebx & 0x0000ffff) | ((count & 0xff) << 16) | ((id & 0xff) << 24)) >>> 0;
      x.ecx = (x.ecx | ECX_HYPERVISOR) >>> 0;
      x.edx = count > 1 ? (x.edx | EDX_HTT) >>> 0 : (x.edx & ~EDX_HTT) >>> 0;
    } else if (x.function === LEAF_EXT_TOPOLOGY || x.function === LEAF_V2_EXT_TOPOLOGY) {
      x.edx = id >>> 0; // x2APIC id of this logical processor
    }
    return x;
  });
}

/** MSR numbers set at boot. */
export const MSR = {
  IA32_TSC: 0x10,
  IA32_SYSENTER_CS: 0x174,
  IA32_SYSENTER_ESP: 0x175,
  IA32_SYSENTER_EIP: 0x176,
  IA32_MISC_ENABLE: 0x1a0,
  MTRR_DEF_TYPE: 0x2ff,
  STAR: 0xc0000081,
  LSTAR: 0xc0000082,
  CSTAR: 0xc0000083,
  SYSCALL_MASK: 0xc0000084,
  KERNEL_GS_BASE: 0xc0000102,
} as const;

/** The boot MSR values Firecracker uses: zeros, fast strings, MTRRs on with write-back default. */
export function bootMsrs(): MsrEntry[] {
  return [
    { index: MSR.IA32_SYSENTER_CS, data: 0n },
    { index: MSR.IA32_SYSENTER_ESP, data: 0n },
    { index: MSR.IA32_SYSENTER_EIP, data: 0n },
    { index: MSR.STAR, data: 0n },
    { index: MSR.CSTAR, data: 0n },
    { index: MSR.KERNEL_GS_BASE, data: 0n },
    { index: MSR.SYSCALL_MASK, data: 0n },
    { index: MSR.LSTAR, data: 0n },
    { index: MSR.IA32_TSC, data: 0n },
    { index: MSR.IA32_MISC_ENABLE, data: 1n },
    { index: MSR.MTRR_DEF_TYPE, data: (1n << 11n) | 6n },
  ];
}

const APIC_LVT0 = 0x350;
const APIC_LVT1 = 0x360;
const DELIVERY_EXTINT = 7;
const DELIVERY_NMI = 4;

/**
 * Sets LINT0 to ExtINT (the PIC) and LINT1 to NMI in a LAPIC register page
 * read with KVM_GET_LAPIC, in place; returns the page for KVM_SET_LAPIC.
 */
export function setLocalInterrupts(page: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  const v = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const patch = (off: number, mode: number) =>
    v.setUint32(off, ((v.getUint32(off, true) & ~0x700) | (mode << 8)) >>> 0, true);
  patch(APIC_LVT0, DELIVERY_EXTINT);
  patch(APIC_LVT1, DELIVERY_NMI);
  return page;
}
