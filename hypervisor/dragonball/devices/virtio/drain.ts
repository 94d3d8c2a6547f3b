/**
 * The one loop every virtio device runs over a queue: pop the chains the
 * driver made available, serve each, return it to the driver with the bytes
 * written, and raise the interrupt once if anything was returned. A chain
 * that breaks the virtqueue rules is returned unused (0 bytes) and never
 * reaches the device's own code.
 * @module
 */
import type { ActivateContext } from "./device.ts";
import type { Descriptor, VirtqueueError } from "./queue.ts";

/** How {@link drainQueue} serves chains. */
interface DrainOptions {
  /** Keep popping only while this holds (default: until the ring is empty). */
  while?: () => boolean;
  /** Told about each malformed chain (the chain is returned with 0 bytes either way). */
  onError?: (error: VirtqueueError) => void;
}

/**
 * Serves queue `index` of an activated device: `serve` gets each valid
 * chain's descriptors and returns the bytes it wrote into guest memory.
 * Returns true when the loop stopped because the ring had no chain left
 * (rather than because `while` said stop).
 */
export function drainQueue(
  ctx: ActivateContext,
  index: number,
  serve: (descriptors: Descriptor[]) => number,
  opts: DrainOptions = {},
): boolean {
  const q = ctx.queues[index];
  let used = false;
  let ranOut = false;
  while (opts.while?.() ?? true) {
    const chain = q.pop(ctx.memory);
    if (!chain) {
      ranOut = true;
      break;
    }
    used = true;
    let written = 0;
    try {
      if (chain.error) opts.onError?.(chain.error);
      else written = serve(chain.descriptors);
    } finally {
      q.addUsed(ctx.memory, chain.head, written);
    }
  }
  if (used) ctx.signalUsed();
  return ranOut;
}

/** Bytes the device may write into a chain (its writable buffers). */
export function writableRoom(descriptors: readonly Descriptor[]): number {
  return descriptors.reduce((n, d) => n + (d.writable ? d.len : 0), 0);
}
