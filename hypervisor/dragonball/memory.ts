/**
 * Guest physical memory: one or more regions of host memory, each mapped at
 * a guest-physical address. Every accessor checks that the whole access lies
 * inside one region, so a guest-supplied address can never reach host memory
 * outside the guest.
 * @module
 */
import { MAP, map, type Mapping, PROT, unmap } from "../../ffi/mmap.ts";
import { mappingAddress } from "../../ffi/kvm.ts";
import { closeFd, O, openFd } from "../../ffi/fd.ts";
import { leaseBreaking, takeReadLease } from "../../ffi/lease.ts";
import { FailedPreconditionError, InvalidArgumentError } from "../../common/errors.ts";

/** A guest-physical access outside guest memory. */
export class GuestMemoryError extends Error {
  /** The guest (or our device model) broke the memory layout's contract. */
  readonly code = "Internal";
  constructor(readonly addr: number, readonly length: number) {
    super(`Guest address 0x${addr.toString(16)}+${length} lies outside guest memory`);
    this.name = "GuestMemoryError";
  }
}

/** One contiguous guest-physical range. */
interface MemoryRegionView {
  guestAddr: number;
  size: number;
  bytes: Uint8Array<ArrayBuffer>;
  /** Host virtual address (0 for heap-backed test memory). */
  hostAddr: bigint;
}

/** Start of the 32-bit MMIO hole where devices live; RAM skips it. */
const MMIO_HOLE_START = 0xc000_0000;
const FOUR_GIB = 0x1_0000_0000;

/** [guest address, size] of each RAM region for `size` bytes of RAM. */
function ramLayout(size: number): [number, number][] {
  if (!Number.isSafeInteger(size) || size <= 0 || size % 4096 !== 0) {
    throw new InvalidArgumentError(`Guest memory size ${size} must be a positive multiple of 4096`);
  }
  return size <= MMIO_HOLE_START
    ? [[0, size]]
    : [[0, MMIO_HOLE_START], [FOUR_GIB, size - MMIO_HOLE_START]];
}

/** A memory file and how guest RAM maps it. */
export interface MemoryFile {
  path: string;
  /**
   * "shared": a new file the VM writes through to (a template VM, whose
   * memory then is the file); "private": an existing file mapped
   * copy-on-write (a clone: its writes stay its own, pages it never writes
   * stay shared with every other clone).
   */
  mode: "shared" | "private";
}

/** Guest RAM as a set of regions. */
export class GuestMemory {
  readonly regions: readonly MemoryRegionView[];
  readonly #mappings: Mapping[];
  readonly #views: DataView[];
  #closed = false;
  /**
   * True until the first write: fresh anonymous mappings and heap buffers are
   * zero, so loaders may skip zero-filling (and the page faults it costs).
   */
  #pristine = true;

  /** The memory file's fd (kept open to watch its size), or -1. */
  readonly #fileFd: number;
  /** The memory file backing guest RAM, if any. */
  readonly file?: MemoryFile;
  /** Whether a read lease on the (private) memory file announces writers. */
  #leased = false;

  private constructor(
    regions: MemoryRegionView[],
    mappings: Mapping[],
    file?: { fd: number; file: MemoryFile },
  ) {
    this.regions = regions;
    this.#mappings = mappings;
    this.#fileFd = file?.fd ?? -1;
    this.file = file?.file;
    this.#pristine = file?.file.mode !== "private";
    this.#views = regions.map((r) => new DataView(r.bytes.buffer, r.bytes.byteOffset, r.size));
  }

  /**
   * Maps `size` bytes of anonymous host memory as guest RAM starting at 0,
   * split around the 32-bit MMIO hole when it is larger than 3 GiB.
   */
  static allocate(size: number): GuestMemory {
    return GuestMemory.#map(
      ramLayout(size),
      (len) => map(len, PROT.READ | PROT.WRITE, MAP.PRIVATE | MAP.ANONYMOUS | MAP.NORESERVE),
    );
  }

  /**
   * Maps `size` bytes of RAM from a memory file, the regions one after the
   * other in it. "shared" creates (or empties) the file at that size;
   * "private" maps an existing file, which must be exactly `size` bytes: a
   * shorter one would fault the guest (and this process) on its missing
   * pages, so it is refused here with its path and both sizes.
   */
  static fromFile(size: number, file: MemoryFile): GuestMemory {
    const layout = ramLayout(size);
    const shared = file.mode === "shared";
    const fd = openFd(file.path, shared ? O.RDWR | O.CREAT : O.RDONLY, 0o600);
    try {
      if (shared) {
        Deno.truncateSync(file.path, 0);
        Deno.truncateSync(file.path, size);
      }
      const actual = GuestMemory.#fdSize(fd);
      if (actual !== size) {
        throw new FailedPreconditionError(
          `Memory file ${file.path} is ${actual} bytes, want ${size} (truncated or replaced)`,
        );
      }
      let leased = false;
      if (!shared) {
        try {
          takeReadLease(fd, file.path);
          leased = true;
        } catch { /* a writer has it open already: the size check alone watches it */ }
      }
      let offset = 0;
      const memory = GuestMemory.#map(layout, (len) => {
        const m = map(
          len,
          PROT.READ | PROT.WRITE,
          (shared ? MAP.SHARED : MAP.PRIVATE) | MAP.NORESERVE,
          fd,
          offset,
        );
        offset += len;
        return m;
      }, { fd, file });
      memory.#leased = leased;
      return memory;
    } catch (e) {
      closeFd(fd);
      throw e;
    }
  }

  static #fdSize(fd: number): number {
    return Deno.statSync(`/proc/self/fd/${fd}`).size;
  }

  static #map(
    layout: [number, number][],
    mapOne: (len: number) => Mapping,
    file?: { fd: number; file: MemoryFile },
  ): GuestMemory {
    const mappings: Mapping[] = [];
    try {
      for (const [, len] of layout) mappings.push(mapOne(len));
    } catch (e) {
      for (const m of mappings) unmap(m);
      throw e;
    }
    return new GuestMemory(
      layout.map(([guestAddr, len], i) => ({
        guestAddr,
        size: len,
        bytes: mappings[i].bytes,
        hostAddr: mappingAddress(mappings[i]),
      })),
      mappings,
      file,
    );
  }

  /**
   * Whether the memory file still holds every page of guest RAM: undefined
   * when it does (or there is no file), else what is wrong. A file
   * truncated under a running VM leaves pages that fault on access; the
   * caller stops the VM before a device touches them. A private map holds
   * a read lease: a process about to truncate or write the file waits
   * until this memory is closed, and the kernel's SIGIO says so first
   * (memory_file_watch.ts).
   */
  fileProblem(): string | undefined {
    if (this.#fileFd < 0 || this.#closed) return undefined;
    if (this.#leased && leaseBreaking(this.#fileFd, this.file!.path)) {
      return `Memory file ${this.file!.path} is being truncated or written by another process`;
    }
    const actual = GuestMemory.#fdSize(this.#fileFd);
    return actual < this.size
      ? `Memory file ${this.file!.path} was truncated to ${actual} bytes under the VM ` +
        `(want ${this.size})`
      : undefined;
  }

  /** Heap-backed memory for tests: regions as [guestAddr, size] pairs. */
  static fromBuffers(layout: ReadonlyArray<readonly [number, number]>): GuestMemory {
    return new GuestMemory(
      layout.map(([guestAddr, size]) => ({
        guestAddr,
        size,
        bytes: new Uint8Array(size),
        hostAddr: 0n,
      })),
      [],
    );
  }

  /** Total RAM in bytes. */
  get size(): number {
    return this.regions.reduce((n, r) => n + r.size, 0);
  }

  #find(addr: number, length: number): number {
    if (this.#closed) throw new FailedPreconditionError("Guest memory is unmapped");
    if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(length) || addr < 0 || length < 0) {
      throw new GuestMemoryError(addr, length);
    }
    for (let i = 0; i < this.regions.length; i++) {
      const r = this.regions[i];
      if (addr >= r.guestAddr && addr + length <= r.guestAddr + r.size) return i;
    }
    throw new GuestMemoryError(addr, length);
  }

  /** Whether [addr, addr+length) lies inside one region. */
  contains(addr: number, length: number): boolean {
    try {
      this.#find(addr, length);
      return true;
    } catch {
      return false;
    }
  }

  /** Whether nothing was written through {@link write} yet. */
  get pristine(): boolean {
    return this.#pristine;
  }

  /** A live view of guest bytes (no copy); valid until {@link close}. */
  slice(addr: number, length: number): Uint8Array<ArrayBuffer> {
    const r = this.regions[this.#find(addr, length)];
    const off = addr - r.guestAddr;
    return r.bytes.subarray(off, off + length);
  }

  /** Copies `data` into guest memory at `addr`. */
  write(addr: number, data: Uint8Array): void {
    this.slice(addr, data.length).set(data);
    this.#pristine = false;
  }

  /**
   * Zeroes [addr, addr+length). `fresh` says the range was never written
   * since allocation (the caller knows, e.g. a loader placing its first
   * image), which makes it a bounds check only.
   */
  zero(addr: number, length: number, fresh = false): void {
    const view = this.slice(addr, length);
    if (!fresh) view.fill(0);
  }

  /** A copy of guest bytes. */
  read(addr: number, length: number): Uint8Array<ArrayBuffer> {
    return this.slice(addr, length).slice();
  }

  #dv(addr: number, length: number): [DataView, number] {
    const i = this.#find(addr, length);
    return [this.#views[i], addr - this.regions[i].guestAddr];
  }

  u8(addr: number): number {
    const [v, o] = this.#dv(addr, 1);
    return v.getUint8(o);
  }
  u16(addr: number): number {
    const [v, o] = this.#dv(addr, 2);
    return v.getUint16(o, true);
  }
  u32(addr: number): number {
    const [v, o] = this.#dv(addr, 4);
    return v.getUint32(o, true);
  }
  /** A little-endian u64 as a number; throws when it exceeds 2^53. */
  u64(addr: number): number {
    const [v, o] = this.#dv(addr, 8);
    const x = v.getBigUint64(o, true);
    if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw new GuestMemoryError(Number.MAX_SAFE_INTEGER, 0);
    return Number(x);
  }
  /** A little-endian u64 as a bigint (any value). */
  u64n(addr: number): bigint {
    const [v, o] = this.#dv(addr, 8);
    return v.getBigUint64(o, true);
  }
  setU8(addr: number, x: number): void {
    const [v, o] = this.#dv(addr, 1);
    v.setUint8(o, x);
  }
  setU16(addr: number, x: number): void {
    const [v, o] = this.#dv(addr, 2);
    v.setUint16(o, x, true);
  }
  setU32(addr: number, x: number): void {
    const [v, o] = this.#dv(addr, 4);
    v.setUint32(o, x, true);
  }
  setU64(addr: number, x: number | bigint): void {
    const [v, o] = this.#dv(addr, 8);
    v.setBigUint64(o, BigInt(x), true);
  }

  /** Unmaps host memory (idempotent). No vCPU may run afterwards. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const m of this.#mappings) unmap(m);
    if (this.#fileFd >= 0) closeFd(this.#fileFd);
  }
}
