/**
 * The /dev/kvm system ioctls: open and check the API, capabilities, VM
 * creation, the kvm_run size and the supported CPUID.
 * @module
 */
import { closeFd, O, openFd } from "./fd.ts";
import { ioctlBuf, ioctlVal } from "./ioctl.ts";
import { FfiError } from "./errors.ts";
import { type CpuidEntry, decodeCpuid, encodeCpuid, KVM, KVM_API_VERSION } from "./kvm_structs.ts";

/** Opens /dev/kvm and checks the API version; the caller closes the fd. */
export function openKvm(path = "/dev/kvm"): number {
  const fd = openFd(path, O.RDWR);
  try {
    const version = ioctlVal(fd, KVM.GET_API_VERSION, 0, "KVM_GET_API_VERSION");
    if (version !== KVM_API_VERSION) {
      throw new FfiError(
        "FailedPrecondition",
        `KVM API version ${version} is not supported (want ${KVM_API_VERSION})`,
      );
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

/** KVM_GET_SUPPORTED_CPUID on the /dev/kvm fd. */
export function supportedCpuid(kvmFd: number): CpuidEntry[] {
  const b = encodeCpuid([], 256); // KVM_MAX_CPUID_ENTRIES in 6.1 is 256
  ioctlBuf(kvmFd, KVM.GET_SUPPORTED_CPUID, b, "KVM_GET_SUPPORTED_CPUID");
  return decodeCpuid(b);
}
