/**
 * Typed bindings for the KVM ioctls a minimal x86_64 VMM needs, in five
 * files: kvm_structs.ts (the ABI as data: ioctl numbers and struct codecs,
 * testable without /dev/kvm), kvm_system.ts (/dev/kvm), kvm_vm.ts (the VM fd),
 * kvm_vcpu.ts (a vCPU fd and its kvm_run page) and kvm_state.ts (saving and
 * restoring a machine's vCPU and VM state, for snapshots). This module re-exports
 * them all. Callers see fds as numbers and structs as plain objects; no
 * pointer leaves these modules except inside {@link KvmRun}, which owns its
 * mapping.
 * @module
 */
export * from "./kvm_structs.ts";
export * from "./kvm_system.ts";
export * from "./kvm_vm.ts";
export * from "./kvm_vcpu.ts";
export * from "./kvm_state.ts";
