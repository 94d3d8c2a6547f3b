/**
 * The KVM VM-fd ioctls: vCPU creation, guest memory slots, the TSS address,
 * the in-kernel irqchip and PIT, and irqfd.
 * @module
 */
import { ioctlBuf, ioctlVal } from "./ioctl.ts";
import { type Mapping } from "./mmap.ts";
import {
  encodeIrqfd,
  encodeMemoryRegion,
  encodePitConfig,
  KVM,
  type MemoryRegion,
} from "./kvm_structs.ts";

/** KVM_CREATE_VCPU: a new vCPU fd (caller closes it). */
export function createVcpu(vmFd: number, id: number): number {
  return ioctlVal(vmFd, KVM.CREATE_VCPU, id, `KVM_CREATE_VCPU ${id}`);
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

/** KVM_CREATE_IRQCHIP: in-kernel PIC, IOAPIC and a LAPIC per vCPU. */
export function createIrqchip(vmFd: number): void {
  ioctlVal(vmFd, KVM.CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP");
}

/** KVM_CREATE_PIT2 with a dummy speaker port (after the irqchip). */
export function createPit2(vmFd: number): void {
  ioctlBuf(vmFd, KVM.CREATE_PIT2, encodePitConfig(), "KVM_CREATE_PIT2");
}

/** KVM_IRQFD: a write to `eventFd` injects an edge on `gsi` (or detaches it). */
export function irqfd(vmFd: number, eventFd: number, gsi: number, deassign = false): void {
  ioctlBuf(vmFd, KVM.IRQFD, encodeIrqfd(eventFd, gsi, deassign), `KVM_IRQFD gsi ${gsi}`);
}
