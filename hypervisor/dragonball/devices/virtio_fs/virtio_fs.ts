/**
 * virtio-fs (device id 26): a host directory shared with the guest over
 * FUSE, served inside the VMM process with no virtiofsd (`mount -t virtiofs
 * <tag> <dir>`). Queue 0 is the high-priority queue (forgets, which take no
 * reply), queue 1 the one request queue. Each chain holds a request in its
 * readable buffers and room for the reply in its writable ones; requests are
 * served synchronously when the driver notifies. A request longer than the
 * server accepts is cut and gets an error reply; a malformed chain is
 * returned unused. No DAX window (shared memory region) is offered.
 * @module
 */
import type { Descriptor } from "../virtio/queue.ts";
import { readFromChain, writeToChain } from "../virtio/queue.ts";
import { type ActivateContext, readConfigBytes, VIRTIO_ID } from "../virtio/device.ts";
import { writableRoom } from "../virtio/drain.ts";
import { RequestDevice } from "../virtio/request_device.ts";
import { FailedPreconditionError, InvalidArgumentError } from "../../../../common/errors.ts";
import * as z from "../../../../common/zod.ts";
import { type DeviceState, parseState } from "../state.ts";
import { FuseServer, type FuseServerOptions } from "./server.ts";
import { MAX_REQUEST } from "./session.ts";

/** Room for the chains of a full-size (1 MiB) request split into pages. */
const QUEUE_SIZE = 1024;
/** Bytes of the tag field of the config space. */
const TAG_SIZE = 36;
/** The one request queue after the high-priority queue. */
const REQUEST_QUEUES = 1;

/** The saved form of a share (see {@link VirtioFs.saveState}). */
const fsStateSchema = z.strictObject({ tag: z.string() });

/** A virtio-fs device serving one host directory. */
export class VirtioFs extends RequestDevice {
  readonly deviceType = VIRTIO_ID.FS;
  readonly features = 0n;
  readonly server: FuseServer;
  readonly #config = new Uint8Array(TAG_SIZE + 4);
  /** Each request is copied here, served and done with before the next one is read. */
  #request?: Uint8Array<ArrayBuffer>;

  /** Shares `root` under mount tag `tag` (1..36 bytes). */
  constructor(readonly tag: string, root: string, opts: FuseServerOptions = {}) {
    super(QUEUE_SIZE, 1 + REQUEST_QUEUES);
    const t = new TextEncoder().encode(tag);
    if (t.length === 0 || t.length > TAG_SIZE || t.includes(0)) {
      throw new InvalidArgumentError(
        `Mount tag ${JSON.stringify(tag)} of virtio-fs must be 1..${TAG_SIZE} bytes without NUL`,
      );
    }
    this.#config.set(t);
    new DataView(this.#config.buffer).setUint32(TAG_SIZE, REQUEST_QUEUES, true);
    this.server = new FuseServer(root, opts);
  }

  readConfig(offset: number, data: Uint8Array): void {
    readConfigBytes(this.#config, offset, data);
  }

  protected serve(ctx: ActivateContext, descs: Descriptor[]): number {
    this.#request ??= new Uint8Array(MAX_REQUEST);
    const request = readFromChain(ctx.memory, descs, MAX_REQUEST, this.#request);
    const room = writableRoom(descs);
    const reply = this.server.handle(request, room);
    // No room for even an error header: the chain goes back unused.
    if (!reply || reply.length > room) return 0;
    return writeToChain(ctx.memory, descs, reply);
  }

  /**
   * A FUSE session's node ids and handles name host files the guest holds:
   * they cannot move to another process, so a share is saved (for a VM
   * template) only before the guest has mounted it.
   */
  saveState(): DeviceState {
    const { inodes, handles } = this.server.counts;
    // The root inode is always held; anything more is the guest's.
    if (inodes > 1 || handles > 0) {
      throw new FailedPreconditionError(
        `Cannot save virtio-fs share "${this.tag}": the guest holds ${inodes - 1} nodes and ` +
          `${handles} handles (save the VM before the share is mounted)`,
      );
    }
    return { tag: this.tag } satisfies z.infer<typeof fsStateSchema>;
  }

  /** Refuses a saved share of another mount tag. */
  restoreState(state: unknown): void {
    const s = parseState(fsStateSchema, state, `virtio-fs share "${this.tag}"`);
    if (s.tag !== this.tag) {
      throw new InvalidArgumentError(
        `Saved virtio-fs share has mount tag "${s.tag}", this one "${this.tag}"`,
      );
    }
  }

  protected override forget(): void {
    this.server.reset();
  }

  protected release(): void {
    this.server.close();
  }
}
