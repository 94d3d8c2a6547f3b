/**
 * Typed bindings for the KVM ioctls a minimal x86_64 VMM needs, in four
 * files: kvm_structs.ts (the ABI as data: ioctl numbers and struct codecs,
 * testable without /dev/kvm), kvm_system.ts (/dev/kvm), kvm_vm.ts (the VM fd)
 * and kvm_vcpu.ts (a vCPU fd and its kvm_run page). This module re-exports
 * them all. Callers see fds as numbers and structs as plain objects; no
 * pointer leaves these modules except inside {@link KvmRun}, which owns its
 * mapping.
 * @module
 */
export * from "./kvm_structs.ts";
export * from "./kvm_system.ts";
export * from "./kvm_vm.ts";
export * from "./kvm_vcpu.ts";
