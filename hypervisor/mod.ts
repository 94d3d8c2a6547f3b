/**
 * The hypervisor layer: the driver interface, device types and the device manager.
 * Drivers live in one folder each (`qemu/`, `firecracker/`, `dragonball/`, …).
 * @module
 */
export * from "./hypervisor.ts";
export * from "./device.ts";
export * from "./device_manager.ts";
