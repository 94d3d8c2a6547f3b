/**
 * The interface between a virtio device model and its transport
 * (virtio-mmio here), shaped like Firecracker's `VirtioDevice`.
 * @module
 */
import type { GuestMemory } from "../../memory.ts";
import type { Queue } from "./queue.ts";
import type { DeviceState } from "../state.ts";

/** virtio device type ids. */
export const VIRTIO_ID = { NET: 1, BLOCK: 2, P9: 9, VSOCK: 19, FS: 26 } as const;

/** Feature bits shared by every device. */
export const VIRTIO_F_VERSION_1 = 32n;

/** What a device gets when the driver sets DRIVER_OK. */
export interface ActivateContext {
  memory: GuestMemory;
  queues: Queue[];
  /** Negotiated feature bits. */
  features: bigint;
  /** Marks used buffers and raises the device's interrupt. */
  signalUsed: () => void;
}

/**
 * A virtio device model. Its save/restore (`saveState`, `restoreState`) is
 * the device-specific part of the shared `Stateful` interface (state.ts):
 * the transport saves the queues and its registers around it, restores the
 * device's state first, then activates it when it was active, and calls
 * {@link VirtioDevice.afterRestore} once the VM's vCPUs are restored too.
 */
export interface VirtioDevice {
  readonly deviceType: number;
  /** Feature bits offered (the transport adds VIRTIO_F_VERSION_1). */
  readonly features: bigint;
  /** Maximum size of each queue; the count is the number of queues. */
  readonly queueMaxSizes: readonly number[];
  /** Reads the device-specific configuration space. */
  readConfig(offset: number, data: Uint8Array): void;
  writeConfig(offset: number, data: Uint8Array): void;
  /** Starts the device with the driver's queues. */
  activate(ctx: ActivateContext): void;
  /** The driver made buffers available on queue `index`. */
  notify(index: number): void;
  /** The driver reset the device: forget the queues and pending work. */
  reset(): void;
  /** Releases host resources (files, sockets, fds); the VM is ending. */
  close(): void | Promise<void>;
  /** The device's own state for a snapshot (not its queues, not host resources). */
  saveState(): DeviceState;
  /** Takes back a saved state; throws (naming the device) on a malformed or foreign one. */
  restoreState(state: unknown): void;
  /**
   * Runs once a restored device is active again (optional): a device whose
   * host side did not survive the snapshot tells the guest here (vsock sends
   * its transport reset).
   */
  afterRestore?(): void;
  /**
   * Gives the device the transport's configuration-change signal (optional:
   * only devices whose config changes at run time take it).
   */
  bindConfigChange?(signal: () => void): void;
}

/** Copies `bytes` of a little-endian config struct to a config read. */
export function readConfigBytes(config: Uint8Array, offset: number, data: Uint8Array): void {
  data.fill(0);
  if (offset < 0 || offset >= config.length) return;
  data.set(config.subarray(offset, Math.min(config.length, offset + data.length)));
}
