/**
 * The hypervisor layer: the driver interface, device types and the device manager.
 * Drivers live in one folder each (`qemu/`, `firecracker/`, `dragonball/`, …).
 * @module
 */
export * from "./hypervisor.ts";
export * from "./device.ts";
export * from "./device_manager.ts";
export * from "./factory.ts";
export { Firecracker } from "./firecracker/firecracker.ts";
export { FirecrackerApiError } from "./firecracker/api.ts";
export { Qemu } from "./qemu/qemu.ts";
export { QmpClient, QmpError } from "./qemu/qmp.ts";
export * from "./cleanup_state.ts";
export { Clh } from "./clh/clh.ts";
export { ClhApiError } from "./clh/api.ts";
