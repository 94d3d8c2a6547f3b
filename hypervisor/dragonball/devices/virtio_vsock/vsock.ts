/**
 * virtio-vsock with a hybrid host side (the Firecracker/Dragonball scheme),
 * split the way Firecracker splits it: this device moves packets between
 * the virtqueues and the Unix-socket multiplexer (muxer.ts), which routes
 * them to connections (connection.ts) with credit-based flow control.
 * @module
 */
import { InvalidArgumentError } from "../../../../common/errors.ts";
import { getLogger } from "../../../../common/log.ts";
import { readFromChain, writeToChain } from "../virtio/queue.ts";
import { drainQueue, writableRoom } from "../virtio/drain.ts";
import { type ActivateContext, readConfigBytes, VIRTIO_ID } from "../virtio/device.ts";
import type { VirtioDevice } from "../virtio/device.ts";
import { VsockMuxer } from "./muxer.ts";
import { decodeHeader, HEADER_SIZE } from "./packet.ts";
import * as z from "../../../../common/zod.ts";
import { type DeviceState, parseState, u32 } from "../state.ts";

const log = getLogger("hypervisor.dragonball.devices.virtio_vsock");
/** rx, tx and event queues, 256 entries each. */
const QUEUE_SIZES = [256, 256, 256];
const RX = 0, TX = 1, EVENT = 2;
/** How often a pending transport reset raises the interrupt again. */
const RESET_NUDGE_MS = 1000;
/** VIRTIO_VSOCK_EVENT_TRANSPORT_RESET: the guest drops its connections and re-reads the CID. */
const EVENT_TRANSPORT_RESET = 0;

/** The saved form of the vsock device: the guest's CID (connections are not saved). */
const vsockStateSchema = z.strictObject({ guestCid: u32() });
const MAX_TX_PACKET = HEADER_SIZE + 64 * 1024;

/** The vsock device. */
export class VirtioVsock implements VirtioDevice {
  readonly deviceType = VIRTIO_ID.VSOCK;
  readonly features = 0n;
  readonly queueMaxSizes = QUEUE_SIZES;
  readonly #muxer: VsockMuxer;
  readonly #rxPending: Uint8Array<ArrayBuffer>[] = [];
  #ctx?: ActivateContext;
  #closed = false;
  /** A transport reset was sent and the guest has not kicked its event queue since. */
  #resetPending = false;
  /** Raises the interrupt again while the reset is pending (one lost must not stall the VM). */
  #resetNudge?: ReturnType<typeof setInterval>;

  private constructor(
    readonly path: string,
    readonly guestCid: number,
    listener: Deno.Listener<Deno.UnixConn>,
  ) {
    this.#muxer = new VsockMuxer(
      path,
      guestCid,
      listener,
      (packet) => this.#queueRx(packet),
      // Host connections wait (are refused, and the dialer retries) until the guest has
      // handled a transport reset: one made before would be reset with the old ones.
      () => !this.#closed && this.#ctx !== undefined && !this.#resetPending,
    );
  }

  /** Listens on `path` (replacing a stale socket file) for host connections. */
  static listen(path: string, guestCid: number): Promise<VirtioVsock> {
    if (!Number.isInteger(guestCid) || guestCid < 3 || guestCid > 0xffffffff) {
      return Promise.reject(new InvalidArgumentError(`Guest CID ${guestCid} must be at least 3`));
    }
    try {
      if (Deno.lstatSync(path).isSocket) Deno.removeSync(path);
    } catch { /* absent */ }
    const listener = Deno.listen({ transport: "unix", path });
    return Promise.resolve(new VirtioVsock(path, guestCid, listener));
  }

  readConfig(offset: number, data: Uint8Array): void {
    const cfg = new Uint8Array(8);
    new DataView(cfg.buffer).setBigUint64(0, BigInt(this.guestCid), true);
    readConfigBytes(cfg, offset, data);
  }

  writeConfig(): void {}

  /**
   * The guest CID. Connections are host sockets of the saving VM and are
   * not saved: {@link afterRestore} resets the guest's instead.
   */
  saveState(): DeviceState {
    return { guestCid: this.guestCid } satisfies z.infer<typeof vsockStateSchema>;
  }

  /** Refuses a saved device of another CID (the guest's driver has its CID cached). */
  restoreState(state: unknown): void {
    const s = parseState(vsockStateSchema, state, "the vsock device");
    if (s.guestCid !== this.guestCid) {
      throw new InvalidArgumentError(
        `Saved vsock device has guest CID ${s.guestCid}, this one ${this.guestCid}`,
      );
    }
  }

  /**
   * Sends the transport reset event: the guest ends every connection of
   * the saved VM (their host sockets belong to another process) and keeps
   * its listening sockets, so the agent accepts this VM's connections.
   */
  afterRestore(): void {
    const ctx = this.#ctx;
    if (!ctx) return;
    let sent = false;
    drainQueue(ctx, EVENT, (descs) => {
      const event = new Uint8Array(4);
      new DataView(event.buffer).setUint32(0, EVENT_TRANSPORT_RESET, true);
      sent = true;
      return writeToChain(ctx.memory, descs, event);
    }, { while: () => !sent });
    if (!sent) log.warn("vsock: no event buffer for the transport reset; guest connections stay");
    // Linux refills the event queue and kicks it once it has reset its sockets.
    this.#setResetPending(sent);
  }

  #setResetPending(on: boolean): void {
    this.#resetPending = on;
    if (on) {
      this.#resetNudge ??= setInterval(() => this.#ctx?.signalUsed(), RESET_NUDGE_MS);
    } else if (this.#resetNudge !== undefined) {
      clearInterval(this.#resetNudge);
      this.#resetNudge = undefined;
    }
  }

  activate(ctx: ActivateContext): void {
    this.#ctx = ctx;
    this.#flushRx();
  }

  notify(index: number): void {
    if (index === RX) this.#flushRx();
    else if (index === TX) this.#drainTx();
    else if (index === EVENT) this.#setResetPending(false);
  }

  reset(): void {
    this.#ctx = undefined;
    this.#setResetPending(false);
    this.#rxPending.length = 0;
    this.#muxer.dropAll();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#setResetPending(false);
    this.#ctx = undefined;
    this.#muxer.close();
    try {
      await Deno.remove(this.path);
    } catch { /* gone */ }
  }

  /** Guest → host: hands each transmitted packet to the muxer. */
  #drainTx(): void {
    const ctx = this.#ctx;
    if (!ctx) return;
    drainQueue(ctx, TX, (descs) => {
      const bytes = readFromChain(ctx.memory, descs, MAX_TX_PACKET);
      if (bytes.length < HEADER_SIZE) return 0;
      const h = decodeHeader(bytes);
      const payload = bytes.subarray(
        HEADER_SIZE,
        HEADER_SIZE + Math.min(h.len, bytes.length - HEADER_SIZE),
      );
      this.#muxer.fromGuest(h, payload);
      return 0;
    }, { onError: (e) => log.warn("vsock tx: {error}", { error: e.message }) });
  }

  #queueRx(packet: Uint8Array<ArrayBuffer>): void {
    this.#rxPending.push(packet);
    this.#flushRx();
  }

  /** Host → guest: moves queued packets into the guest's receive buffers. */
  #flushRx(): void {
    const ctx = this.#ctx;
    if (!ctx) return;
    drainQueue(ctx, RX, (descs) => {
      const packet = this.#rxPending.shift()!;
      const room = writableRoom(descs);
      if (room < packet.length) {
        log.warn("vsock rx buffer of {room} bytes is too small for {len}", {
          room,
          len: packet.length,
        });
        return 0;
      }
      return writeToChain(ctx.memory, descs, packet);
    }, { while: () => this.#rxPending.length > 0 });
  }
}
