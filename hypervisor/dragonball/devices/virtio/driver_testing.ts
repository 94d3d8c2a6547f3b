/**
 * A test-only virtqueue driver: lays out a split queue in heap-backed guest
 * memory and publishes descriptor chains the way a guest driver would, so
 * device models can be tested without a VM.
 * @module
 */
import { GuestMemory } from "../../memory.ts";
import type { ActivateContext } from "./device.ts";
import { Queue } from "./queue.ts";

/** One buffer to publish: guest address, length, device-writable flag. */
export interface TestBuffer {
  addr: number;
  len: number;
  write?: boolean;
}

/**
 * Guest memory of 1 MiB (or a shared one) with a queue at base+0x1000
 * (descriptors), base+0x2000 (available ring) and base+0x3000 (used ring).
 */
export class TestDriver {
  readonly memory: GuestMemory;
  readonly queue: Queue;
  readonly #base: number;
  #nextDesc = 0;
  #availIdx = 0;
  /** Interrupts raised through the `signalUsed` of {@link context}. */
  signals = 0;

  constructor(readonly size = 16, memory?: GuestMemory, base = 0) {
    this.memory = memory ?? GuestMemory.fromBuffers([[0, 0x100000]]);
    this.#base = base;
    this.queue = new Queue(size);
    this.queue.descTable = base + 0x1000;
    this.queue.availRing = base + 0x2000;
    this.queue.usedRing = base + 0x3000;
    this.queue.ready = true;
  }

  /** The activation of a one-queue device on this driver; `signalUsed` counts {@link signals}. */
  context(features = 0n): ActivateContext {
    return {
      memory: this.memory,
      queues: [this.queue],
      features,
      signalUsed: () => this.signals++,
    };
  }

  /** Writes raw descriptor `index`. */
  setDescriptor(index: number, addr: number, len: number, flags: number, next: number): void {
    const d = this.#base + 0x1000 + index * 16;
    this.memory.setU64(d, addr);
    this.memory.setU32(d + 8, len);
    this.memory.setU16(d + 12, flags);
    this.memory.setU16(d + 14, next);
  }

  /** Publishes `head` in the available ring. */
  publish(head: number): void {
    this.memory.setU16(this.#base + 0x2004 + 2 * (this.#availIdx % this.size), head);
    this.#availIdx = (this.#availIdx + 1) & 0xffff;
    this.memory.setU16(this.#base + 0x2002, this.#availIdx);
  }

  /** Writes a chain of buffers into fresh descriptors and publishes it. */
  addChain(buffers: TestBuffer[]): number {
    const head = this.#nextDesc;
    buffers.forEach((b, i) => {
      const idx = (head + i) % this.size;
      const last = i === buffers.length - 1;
      this.setDescriptor(
        idx,
        b.addr,
        b.len,
        (last ? 0 : 1) | (b.write ? 2 : 0),
        (idx + 1) % this.size,
      );
    });
    this.#nextDesc = (head + buffers.length) % this.size;
    this.publish(head);
    return head;
  }

  /** The used ring index the device has reached. */
  get usedIdx(): number {
    return this.memory.u16(this.#base + 0x3002);
  }

  /** Used element `i`: {id, len}. */
  used(i: number): { id: number; len: number } {
    const o = this.#base + 0x3004 + (i % this.size) * 8;
    return { id: this.memory.u32(o), len: this.memory.u32(o + 4) };
  }
}
