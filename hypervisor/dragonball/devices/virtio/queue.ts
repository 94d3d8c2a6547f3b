/**
 * Split virtqueues (virtio 1.x, section 2.7): the descriptor table, the
 * available ring the driver fills and the used ring the device fills. Every
 * index, length and address the guest supplies is checked against the queue
 * size and guest memory; a bad chain is reported for that request only.
 * @module
 */
import type { GuestMemory } from "../../memory.ts";

const VIRTQ_DESC_F_NEXT = 1;
const VIRTQ_DESC_F_WRITE = 2;
const VIRTQ_DESC_F_INDIRECT = 4;
const DESC_SIZE = 16;

/** A driver-supplied structure that breaks the virtqueue rules. */
export class VirtqueueError extends Error {
  /** The guest broke the virtqueue protocol. */
  readonly code = "Internal";
  constructor(message: string) {
    super(message);
    this.name = "VirtqueueError";
  }
}

/** One buffer of a chain, already checked to lie in guest memory. */
export interface Descriptor {
  addr: number;
  len: number;
  writable: boolean;
}

/** A request popped from the available ring. */
type Chain =
  | { head: number; descriptors: Descriptor[]; error?: undefined }
  | { head: number; descriptors?: undefined; error: VirtqueueError };

/** The saved form of a queue: what the driver programmed and where the device is in the rings. */
interface QueueState {
  size: number;
  ready: boolean;
  descTable: number;
  availRing: number;
  usedRing: number;
  nextAvail: number;
  nextUsed: number;
}

/** Queue state the driver programs through the transport. */
export class Queue {
  size: number;
  ready = false;
  descTable = 0;
  availRing = 0;
  usedRing = 0;
  #nextAvail = 0;
  #nextUsed = 0;

  constructor(readonly maxSize: number) {
    this.size = maxSize;
  }

  /** Whether the programmed size and ring addresses are usable in `mem`. */
  isValid(mem: GuestMemory): boolean {
    const n = this.size;
    return this.ready && n > 0 && n <= this.maxSize && (n & (n - 1)) === 0 &&
      this.descTable % 16 === 0 && this.availRing % 2 === 0 && this.usedRing % 4 === 0 &&
      mem.contains(this.descTable, n * DESC_SIZE) && mem.contains(this.availRing, 6 + 2 * n) &&
      mem.contains(this.usedRing, 6 + 8 * n);
  }

  /** The queue's state for a snapshot. */
  saveState(): QueueState {
    return {
      size: this.size,
      ready: this.ready,
      descTable: this.descTable,
      availRing: this.availRing,
      usedRing: this.usedRing,
      nextAvail: this.#nextAvail,
      nextUsed: this.#nextUsed,
    };
  }

  /** Takes back a saved state (checked by the transport's schema; the size against this queue). */
  restoreState(s: QueueState): void {
    if (s.size > this.maxSize) {
      throw new VirtqueueError(`Saved queue size ${s.size} exceeds this queue's ${this.maxSize}`);
    }
    this.size = s.size;
    this.ready = s.ready;
    this.descTable = s.descTable;
    this.availRing = s.availRing;
    this.usedRing = s.usedRing;
    this.#nextAvail = s.nextAvail & 0xffff;
    this.#nextUsed = s.nextUsed & 0xffff;
  }

  /** Forgets the ring positions (device reset). */
  reset(): void {
    this.ready = false;
    this.size = this.maxSize;
    this.descTable = this.availRing = this.usedRing = 0;
    this.#nextAvail = this.#nextUsed = 0;
  }

  /** Number of chains the driver made available that are not yet popped. */
  pending(mem: GuestMemory): number {
    const avail = mem.u16(this.availRing + 2);
    const n = (avail - this.#nextAvail) & 0xffff;
    if (n > this.size) {
      throw new VirtqueueError(
        `Available index ${avail} runs ${n} entries ahead of a queue of ${this.size}`,
      );
    }
    return n;
  }

  /** Pops the next available chain, or undefined when the ring is empty. */
  pop(mem: GuestMemory): Chain | undefined {
    if (this.pending(mem) === 0) return undefined;
    const slot = this.#nextAvail % this.size;
    const head = mem.u16(this.availRing + 4 + 2 * slot);
    this.#nextAvail = (this.#nextAvail + 1) & 0xffff;
    try {
      return { head, descriptors: this.#walk(mem, head) };
    } catch (e) {
      if (e instanceof VirtqueueError) return { head, error: e };
      throw e;
    }
  }

  /** Puts a popped chain back (the device could not use it yet). */
  undoPop(): void {
    this.#nextAvail = (this.#nextAvail - 1) & 0xffff;
  }

  #walk(mem: GuestMemory, head: number): Descriptor[] {
    const out: Descriptor[] = [];
    let index = head;
    for (;;) {
      if (index >= this.size) {
        throw new VirtqueueError(`Descriptor index ${index} is outside a queue of ${this.size}`);
      }
      if (out.length >= this.size) throw new VirtqueueError("Descriptor chain loops");
      const d = this.descTable + index * DESC_SIZE;
      const addr64 = mem.u64n(d);
      const len = mem.u32(d + 8);
      if (addr64 > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new VirtqueueError(
          `Descriptor ${index} address 0x${addr64.toString(16)} is outside guest memory`,
        );
      }
      const addr = Number(addr64);
      const flags = mem.u16(d + 12);
      const next = mem.u16(d + 14);
      if (flags & VIRTQ_DESC_F_INDIRECT) {
        throw new VirtqueueError("Indirect descriptors were not negotiated");
      }
      if (!mem.contains(addr, len)) {
        throw new VirtqueueError(
          `Descriptor ${index} buffer 0x${addr.toString(16)}+${len} is outside guest memory`,
        );
      }
      out.push({ addr, len, writable: (flags & VIRTQ_DESC_F_WRITE) !== 0 });
      if (!(flags & VIRTQ_DESC_F_NEXT)) return out;
      index = next;
    }
  }

  /** Returns chain `head` to the driver with `len` bytes written. */
  addUsed(mem: GuestMemory, head: number, len: number): void {
    if (head >= this.size) return; // a head the guest made up: nothing to return
    const slot = this.#nextUsed % this.size;
    mem.setU32(this.usedRing + 4 + slot * 8, head);
    mem.setU32(this.usedRing + 4 + slot * 8 + 4, len);
    this.#nextUsed = (this.#nextUsed + 1) & 0xffff;
    mem.setU16(this.usedRing + 2, this.#nextUsed);
  }
}

/** Copies `data` into the writable buffers of a chain; returns bytes written. */
export function writeToChain(
  mem: GuestMemory,
  descs: readonly Descriptor[],
  data: Uint8Array,
): number {
  let off = 0;
  for (const d of descs) {
    if (!d.writable || off >= data.length) continue;
    const n = Math.min(d.len, data.length - off);
    mem.write(d.addr, data.subarray(off, off + n));
    off += n;
  }
  return off;
}

/**
 * Concatenates the readable buffers of a chain (at most `max` bytes). With
 * `into`, a buffer the caller reuses from request to request, the bytes go
 * there when they fit and the result is a view of it: a fresh megabyte per
 * request costs page faults on every request.
 */
export function readFromChain(
  mem: GuestMemory,
  descs: readonly Descriptor[],
  max = Infinity,
  into?: Uint8Array<ArrayBuffer>,
): Uint8Array<ArrayBuffer> {
  const parts = descs.filter((d) => !d.writable);
  const total = Math.min(max, parts.reduce((n, d) => n + d.len, 0));
  const out = into && into.length >= total ? into.subarray(0, total) : new Uint8Array(total);
  let off = 0;
  for (const d of parts) {
    if (off >= total) break;
    const n = Math.min(d.len, total - off);
    out.set(mem.slice(d.addr, n), off);
    off += n;
  }
  return out;
}
