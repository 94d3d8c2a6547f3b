/**
 * Placeholder block slots, for VMMs that cannot hotplug a disk: the VM boots
 * with a fixed number of empty virtio-blk drives, and a block device added
 * later takes a free slot (its drive is re-pointed at the device's file and
 * the guest sees the new capacity through a configuration change). Used by
 * Firecracker (`drive1`..`drive5`, re-pointed through its API) and the
 * built-in VMM (empty virtio-blk devices whose backing file is swapped).
 * This class is only the bookkeeping: which device holds which slot.
 * @module
 */
import { InvalidArgumentError, NotFoundError, UnavailableError } from "../common/errors.ts";

/** What a slot holder needs: an id, and optionally the slot it asks for. */
interface SlotHolder {
  id: string;
  index?: number;
}

/** How slots are named in messages. */
interface SlotNaming {
  /** The VMM ("Firecracker", "The built-in VMM"). */
  owner: string;
  /** The kind of slot ("drive", "block"). */
  kind: string;
  /** The name of one slot in messages (`drive3`). */
  slotName(slot: number): string;
}

/** Which device holds which of the slots `first`..`first + count - 1`. */
export class BlockSlots<D extends SlotHolder = SlotHolder> {
  readonly #slots = new Map<number, D>();

  constructor(readonly first: number, readonly count: number, readonly naming: SlotNaming) {}

  /** The guest path of virtio-blk slot `slot` in probe order (`/dev/vda` for slot 0). */
  static guestPath(slot: number): string {
    return `/dev/vd${String.fromCharCode(97 + slot)}`;
  }

  /** The slot `d` asks for (`d.index`) or the first free one; refuses a taken or missing slot. */
  pick(d: D): number {
    const n = this.naming;
    const slot = d.index;
    if (slot !== undefined) {
      if (slot < this.first || slot >= this.first + this.count) {
        throw new InvalidArgumentError(
          `Cannot add block device "${d.id}" at index ${slot}: ${n.owner} has ${this.count} ${n.kind} slots`,
        );
      }
      if (this.#slots.has(slot)) {
        throw new InvalidArgumentError(
          `Cannot add block device "${d.id}": ${n.slotName(slot)} is in use`,
        );
      }
      return slot;
    }
    for (let i = this.first; i < this.first + this.count; i++) if (!this.#slots.has(i)) return i;
    throw new UnavailableError(
      `Cannot add block device "${d.id}": all ${this.count} ${n.owner} ${n.kind} slots are in use`,
    );
  }

  /** Records that `d` holds `slot`. */
  set(slot: number, d: D): void {
    this.#slots.set(slot, d);
  }

  /** The device in `slot`, if any. */
  holder(slot: number): D | undefined {
    return this.#slots.get(slot);
  }

  /** The slot of device `id`; NotFound naming VM `what` when it holds none. */
  slotOf(id: string, what: string): number {
    for (const [slot, d] of this.#slots) if (d.id === id) return slot;
    throw new NotFoundError(`Block device "${id}" not found on ${what}`);
  }

  /** Frees the slot of device `id`, if it holds one. */
  release(id: string): void {
    for (const [slot, b] of this.#slots) if (b.id === id) this.#slots.delete(slot);
  }
}
