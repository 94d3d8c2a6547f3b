/**
 * virtio-blk backed by a host file: reads, writes, flush and the device id,
 * read-only or read-write. Requests are served synchronously when the
 * driver notifies the queue; a malformed request is completed with an error
 * status (or dropped when it has no status byte) and never stops the VMM.
 *
 * A placeholder ({@link VirtioBlock.placeholder}) is a disk without backing
 * (0 sectors) that boots with the VM; {@link VirtioBlock.attachBacking} and
 * {@link VirtioBlock.detachBacking} swap its file at run time and raise a
 * configuration change, on which Linux re-reads the capacity: block
 * hotplug without guest kernel patches (see hypervisor/block_slots.ts).
 * @module
 */
import { FailedPreconditionError, InvalidArgumentError } from "../../../../common/errors.ts";
import * as z from "../../../../common/zod.ts";
import { type DeviceState, parseState, uint } from "../state.ts";
import type { GuestMemory } from "../../memory.ts";
import type { Descriptor } from "../virtio/queue.ts";
import { type ActivateContext, readConfigBytes, VIRTIO_ID } from "../virtio/device.ts";
import { RequestDevice } from "../virtio/request_device.ts";

const SECTOR = 512;
const QUEUE_SIZE = 256;
/** Feature bits: read-only, flush, block size in config. */
export const VIRTIO_BLK_F_RO = 5n;
const VIRTIO_BLK_F_FLUSH = 9n;
const T = { IN: 0, OUT: 1, FLUSH: 4, GET_ID: 8 } as const;
const S = { OK: 0, IOERR: 1, UNSUPP: 2 } as const;
const ID_BYTES = 20;

/**
 * The size of a disk file or block device: stat's size is 0 for a block
 * device (a devmapper snapshot), so seek to its end instead.
 */
function sizeOf(file: Deno.FsFile): number {
  const st = file.statSync();
  return st.isFile ? st.size : file.seekSync(0, Deno.SeekMode.End);
}

/** Options of {@link VirtioBlock.open}. */
interface BlockOptions {
  readOnly?: boolean;
  /** The id the guest reads (VIRTIO_BLK_T_GET_ID); defaults to the file name. */
  id?: string;
}

/** The saved form of a disk (see {@link VirtioBlock.saveState}). */
const blockStateSchema = z.strictObject({
  sectors: uint(),
  readOnly: z.boolean(),
  attached: z.boolean(),
});

function describe(s: z.infer<typeof blockStateSchema>): string {
  return s.attached
    ? `${s.sectors} sectors, ${s.readOnly ? "read-only" : "writable"}`
    : "an empty slot";
}

/** A file-backed virtio block device. */
export class VirtioBlock extends RequestDevice {
  readonly deviceType = VIRTIO_ID.BLOCK;
  readonly features: bigint;
  #file: Deno.FsFile | null;
  #sectors: number;
  #id: Uint8Array;
  #readOnly: boolean;
  #configChanged: () => void = () => {};

  private constructor(
    file: Deno.FsFile | null,
    size: number,
    readOnly: boolean,
    id: string,
    offerRo: boolean,
  ) {
    super(QUEUE_SIZE);
    this.#file = file;
    this.#readOnly = readOnly;
    this.#sectors = Math.floor(size / SECTOR);
    this.#id = new TextEncoder().encode(id).slice(0, ID_BYTES);
    this.features = (1n << VIRTIO_BLK_F_FLUSH) | (offerRo ? 1n << VIRTIO_BLK_F_RO : 0n);
  }

  /** Opens `path` as the disk. */
  static open(path: string, opts: BlockOptions = {}): VirtioBlock {
    const readOnly = opts.readOnly ?? false;
    const file = Deno.openSync(path, { read: true, write: !readOnly });
    try {
      const size = sizeOf(file);
      return new VirtioBlock(file, size, readOnly, opts.id ?? path.split("/").pop()!, readOnly);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /**
   * An empty slot (0 sectors, id `id`) whose backing is attached later.
   * Features are fixed at negotiation, so it never offers VIRTIO_BLK_F_RO: a
   * read-only backing is enforced here (writes fail with an I/O error) and
   * the guest mounts it read-only.
   */
  static placeholder(id: string): VirtioBlock {
    return new VirtioBlock(null, 0, false, id, false);
  }

  bindConfigChange(signal: () => void): void {
    this.#configChanged = signal;
  }

  /** Whether a file backs the disk. */
  get attached(): boolean {
    return this.#file !== null;
  }

  /**
   * Backs a placeholder with `path` (the guest sees the new capacity and,
   * through VIRTIO_BLK_T_GET_ID, the new id).
   */
  attachBacking(path: string, opts: BlockOptions = {}): void {
    if (this.#file) {
      throw new FailedPreconditionError(`Cannot attach ${path}: the block slot has a backing file`);
    }
    const readOnly = opts.readOnly ?? false;
    const file = Deno.openSync(path, { read: true, write: !readOnly });
    try {
      this.#sectors = Math.floor(sizeOf(file) / SECTOR);
    } catch (e) {
      file.close();
      throw e;
    }
    this.#file = file;
    this.#readOnly = readOnly;
    this.#id = new TextEncoder().encode(opts.id ?? path.split("/").pop()!).slice(0, ID_BYTES);
    this.#configChanged();
  }

  /** Empties the disk again (0 sectors, requests fail) and closes its file. */
  detachBacking(): void {
    const f = this.#file;
    if (!f) return;
    this.#file = null;
    this.#sectors = 0;
    f.close();
    this.#configChanged();
  }

  /**
   * What the guest knows of the disk: capacity, writability and whether a
   * file backs it. The file itself is the restoring VM's (the same image,
   * or an empty slot).
   */
  saveState(): DeviceState {
    return {
      sectors: this.#sectors,
      readOnly: this.#readOnly,
      attached: this.attached,
    } satisfies z.infer<typeof blockStateSchema>;
  }

  /** Refuses a saved disk whose capacity, writability or backing differs from this one. */
  restoreState(state: unknown): void {
    const s = parseState(blockStateSchema, state, "a virtio-blk disk");
    const mine = { sectors: this.#sectors, readOnly: this.#readOnly, attached: this.attached };
    if (
      s.sectors !== mine.sectors || s.readOnly !== mine.readOnly || s.attached !== mine.attached
    ) {
      throw new InvalidArgumentError(
        `Saved virtio-blk disk (${describe(s)}) does not match this one (${describe(mine)})`,
      );
    }
  }

  /** Disk size in 512-byte sectors. */
  get sectors(): number {
    return this.#sectors;
  }

  readConfig(offset: number, data: Uint8Array): void {
    const cfg = new Uint8Array(8);
    new DataView(cfg.buffer).setBigUint64(0, BigInt(this.#sectors), true);
    readConfigBytes(cfg, offset, data);
  }

  protected serve(ctx: ActivateContext, descs: Descriptor[]): number {
    return Math.max(this.#request(ctx.memory, descs), 0);
  }

  /** Serves one request; returns the bytes written to guest memory (-1: no status byte). */
  #request(mem: GuestMemory, descs: Descriptor[]): number {
    const header = descs[0];
    const statusDesc = descs[descs.length - 1];
    if (
      descs.length < 2 || header.writable || header.len < 16 || !statusDesc.writable ||
      statusDesc.len < 1
    ) {
      return -1; // no usable header or status byte: nothing to report into
    }
    const data = descs.slice(1, -1);
    const type = mem.u32(header.addr);
    const sector = mem.u64(header.addr + 8);
    let status: number = S.OK;
    let written = 0;
    const file = this.#file;
    try {
      switch (type) {
        case T.IN:
        case T.OUT: {
          const total = data.reduce((n, d) => n + d.len, 0);
          if (!file || total % SECTOR !== 0 || sector + total / SECTOR > this.#sectors) {
            status = S.IOERR;
            break;
          }
          if (type === T.OUT && this.#readOnly) {
            status = S.IOERR;
            break;
          }
          if (data.some((d) => d.writable !== (type === T.IN))) {
            status = S.IOERR;
            break;
          }
          file.seekSync(sector * SECTOR, Deno.SeekMode.Start);
          for (const d of data) {
            const buf = mem.slice(d.addr, d.len);
            if (type === T.IN) {
              let off = 0;
              while (off < buf.length) {
                const n = file.readSync(buf.subarray(off));
                if (n === null) {
                  buf.subarray(off).fill(0);
                  break;
                }
                off += n;
              }
              written += d.len;
            } else {
              let off = 0;
              while (off < buf.length) off += file.writeSync(buf.subarray(off));
            }
          }
          break;
        }
        case T.FLUSH:
          if (file && !this.#readOnly) file.syncSync();
          break;
        case T.GET_ID: {
          const d = data.find((x) => x.writable);
          if (!d) {
            status = S.IOERR;
            break;
          }
          const out = new Uint8Array(Math.min(d.len, ID_BYTES));
          out.set(this.#id.subarray(0, out.length));
          mem.write(d.addr, out);
          written += out.length;
          break;
        }
        default:
          status = S.UNSUPP;
      }
    } catch {
      status = S.IOERR;
    }
    mem.setU8(statusDesc.addr, status);
    return written + 1;
  }

  protected release(): void {
    this.#file?.close();
    this.#file = null;
  }
}

/** Exposed for tests: the queue a device serves. */
