/**
 * The shape of a virtio device that serves requests synchronously from its
 * queues (virtio-blk and virtio-9p have one, virtio-fs two): each chain
 * holds a request and room for its reply, served when the driver notifies. The base keeps the activation
 * context and the closed flag and drains the queue; a device says how it
 * serves one chain, and what reset and close release.
 * @module
 */
import type { ActivateContext, VirtioDevice } from "./device.ts";
import { drainQueue } from "./drain.ts";
import type { Descriptor } from "./queue.ts";
import type { DeviceState } from "../state.ts";

/** A request/response virtio device. */
export abstract class RequestDevice implements VirtioDevice {
  abstract readonly deviceType: number;
  abstract readonly features: bigint;
  readonly queueMaxSizes: readonly number[];
  #ctx?: ActivateContext;
  #closed = false;

  /** `queueCount` queues of `queueSize` entries each. */
  constructor(queueSize: number, queueCount = 1) {
    this.queueMaxSizes = Array.from({ length: queueCount }, () => queueSize);
  }

  abstract readConfig(offset: number, data: Uint8Array): void;

  /** Serves the request in one chain of queue `index`; returns the bytes written into guest memory. */
  protected abstract serve(ctx: ActivateContext, descriptors: Descriptor[], index: number): number;

  /** The device's own state for a snapshot (see `VirtioDevice.saveState`). */
  abstract saveState(): DeviceState;

  /** Takes back a saved state (see `VirtioDevice.restoreState`). */
  abstract restoreState(state: unknown): void;

  /** Releases the device's host resources (its file, its fids); called once. */
  protected abstract release(): void;

  /** Forgets per-driver state on a device reset (default: nothing). */
  protected forget(): void {}

  writeConfig(): void {}

  activate(ctx: ActivateContext): void {
    this.#ctx = ctx;
  }

  notify(index: number): void {
    const ctx = this.#ctx;
    if (!ctx || this.#closed || !ctx.queues[index] || index >= this.queueMaxSizes.length) return;
    drainQueue(ctx, index, (descs) => this.serve(ctx, descs, index));
  }

  reset(): void {
    this.#ctx = undefined;
    this.forget();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ctx = undefined;
    this.release();
  }
}
