/**
 * virtio-9p: a host directory shared with the guest over 9P2000.L
 * (`mount -t 9p -o trans=virtio,version=9p2000.L <tag> <dir>`). One request
 * queue; each chain holds a request in its readable buffers and room for the
 * reply in its writable ones. Requests are served synchronously when the
 * driver notifies; a malformed chain is returned unused and never stops the
 * VMM.
 * @module
 */
import type { Descriptor } from "../virtio/queue.ts";
import { readFromChain, writeToChain } from "../virtio/queue.ts";
import { type ActivateContext, readConfigBytes, VIRTIO_ID } from "../virtio/device.ts";
import { writableRoom } from "../virtio/drain.ts";
import { RequestDevice } from "../virtio/request_device.ts";
import { MAX_MSIZE, P9Server, type P9ServerOptions } from "./server.ts";
import * as z from "../../../../common/zod.ts";
import { FailedPreconditionError, InvalidArgumentError } from "../../../../common/errors.ts";
import { type DeviceState, parseState } from "../state.ts";

/** Feature bit: the config space holds a mount tag. */
const VIRTIO_9P_MOUNT_TAG = 0n;
/** Room for the chains of a full-size message split into pages. */
const QUEUE_SIZE = 256;
/** Longest mount tag the Linux driver accepts. */
const MAX_TAG = 0xffff;

/** The saved form of a share (see {@link Virtio9p.saveState}). */
const p9StateSchema = z.strictObject({ tag: z.string() });

/** A virtio-9p device serving one host directory. */
export class Virtio9p extends RequestDevice {
  readonly deviceType = VIRTIO_ID.P9;
  readonly features = 1n << VIRTIO_9P_MOUNT_TAG;
  readonly server: P9Server;
  readonly #config: Uint8Array;

  /** Shares `root` under mount tag `tag`. */
  constructor(readonly tag: string, root: string, opts: P9ServerOptions = {}) {
    super(QUEUE_SIZE);
    const t = new TextEncoder().encode(tag);
    if (t.length === 0 || t.length > MAX_TAG) {
      throw new InvalidArgumentError(
        `9p mount tag ${JSON.stringify(tag)} must be 1..${MAX_TAG} bytes`,
      );
    }
    this.server = new P9Server(root, opts);
    this.#config = new Uint8Array(2 + t.length);
    new DataView(this.#config.buffer).setUint16(0, t.length, true);
    this.#config.set(t, 2);
  }

  readConfig(offset: number, data: Uint8Array): void {
    readConfigBytes(this.#config, offset, data);
  }

  protected serve(ctx: ActivateContext, descs: Descriptor[]): number {
    const room = writableRoom(descs);
    if (room === 0) return 0; // nowhere to put a reply
    const request = readFromChain(ctx.memory, descs, MAX_MSIZE + 4096);
    const reply = this.server.handle(request, room);
    return writeToChain(ctx.memory, descs, reply);
  }

  /**
   * The mount tag. A guest that mounted the share holds fids naming host
   * files of this VM's shared directory, which another VM's directory does
   * not have: such a VM is refused (a template is saved before any mount).
   */
  saveState(): DeviceState {
    const fids = this.server.fidCount;
    if (fids > 0) {
      throw new FailedPreconditionError(
        `Cannot save 9p share "${this.tag}": the guest holds ${fids} open fids ` +
          "(save the VM before the share is mounted)",
      );
    }
    return { tag: this.tag } satisfies z.infer<typeof p9StateSchema>;
  }

  /** Refuses a saved share of another mount tag. */
  restoreState(state: unknown): void {
    const s = parseState(p9StateSchema, state, `9p share "${this.tag}"`);
    if (s.tag !== this.tag) {
      throw new InvalidArgumentError(
        `Saved 9p share has mount tag "${s.tag}", this one "${this.tag}"`,
      );
    }
  }

  protected override forget(): void {
    this.server.reset();
  }

  protected release(): void {
    this.server.reset();
  }
}
