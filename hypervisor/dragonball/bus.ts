/**
 * Address buses that route vCPU port-I/O and MMIO exits to devices. A device
 * sees offsets relative to the start of its range.
 * @module
 */
import { InvalidArgumentError } from "../../common/errors.ts";

/** The interface every emulated device presents to a bus. */
export interface BusDevice {
  /** Fills `data` with the value read at `offset` (data.length is the access size). */
  read(offset: number, data: Uint8Array): void;
  /** Handles a write of `data` at `offset`. */
  write(offset: number, data: Uint8Array): void;
}

interface Range {
  base: number;
  length: number;
  device: BusDevice;
}

/** Two devices claiming overlapping addresses. */
export class BusConflictError extends Error {
  /** Two of our devices claim one range: an invariant of the device layout broke. */
  readonly code = "Internal";
  constructor(base: number, length: number) {
    super(`Bus range 0x${base.toString(16)}+0x${length.toString(16)} overlaps another device`);
    this.name = "BusConflictError";
  }
}

/** A sorted set of non-overlapping ranges. */
export class Bus {
  readonly #ranges: Range[] = [];

  /** Registers `device` for [base, base+length). */
  insert(base: number, length: number, device: BusDevice): void {
    if (length <= 0) throw new InvalidArgumentError(`Bus range length ${length} must be positive`);
    for (const r of this.#ranges) {
      if (base < r.base + r.length && r.base < base + length) {
        throw new BusConflictError(base, length);
      }
    }
    this.#ranges.push({ base, length, device });
    this.#ranges.sort((a, b) => a.base - b.base);
  }

  #find(addr: number, size: number): Range | undefined {
    for (const r of this.#ranges) {
      if (addr >= r.base && addr + size <= r.base + r.length) return r;
    }
    return undefined;
  }

  /** Reads through the device at `addr`; false (data untouched) when none is there. */
  read(addr: number, data: Uint8Array): boolean {
    const r = this.#find(addr, data.length);
    if (!r) return false;
    r.device.read(addr - r.base, data);
    return true;
  }

  /** Writes through the device at `addr`; false when none is there. */
  write(addr: number, data: Uint8Array): boolean {
    const r = this.#find(addr, data.length);
    if (!r) return false;
    r.device.write(addr - r.base, data);
    return true;
  }
}
