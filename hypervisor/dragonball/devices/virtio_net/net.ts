/**
 * virtio-net on a host tap device opened with a vnet header (12 bytes, the
 * virtio 1.x header, so frames pass between tap and guest unchanged). No
 * offloads are offered: every frame is a plain Ethernet frame. Receive waits
 * for the tap with poll(2) off the JS thread.
 * @module
 */
import { InvalidArgumentError } from "../../../../common/errors.ts";
import {
  closeTapFds,
  openTap,
  readFrame,
  setVnetHdrSize,
  writeFrame,
} from "../../../../ffi/tun.ts";
import { pollReadable } from "../../../../ffi/poll.ts";
import { getLogger } from "../../../../common/log.ts";
import { readFromChain, writeToChain } from "../virtio/queue.ts";
import { drainQueue, writableRoom } from "../virtio/drain.ts";
import {
  type ActivateContext,
  readConfigBytes,
  VIRTIO_ID,
  type VirtioDevice,
} from "../virtio/device.ts";
import * as z from "../../../../common/zod.ts";
import { type DeviceState, parseState } from "../state.ts";

const log = getLogger("hypervisor.dragonball.devices.virtio_net");
const QUEUE_SIZE = 256;
const RX = 0, TX = 1;
/** Feature: the device has a MAC address in its config space. */
const VIRTIO_NET_F_MAC = 5n;
/** virtio_net_hdr_v1: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers. */
export const NET_HDR_SIZE = 12;
const MAX_FRAME = NET_HDR_SIZE + 65535 + 14;
const POLL_MS = 100;

/** Options of {@link VirtioNet.open}. */
interface NetOptions {
  /** Network namespace path holding the tap ("" = the current one). */
  netns?: string;
  /** Guest MAC address (default: a random locally administered one). */
  mac?: string;
}

/** Parses "aa:bb:cc:dd:ee:ff". */
export function parseMac(mac: string): Uint8Array {
  const parts = mac.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new InvalidArgumentError(`MAC address ${JSON.stringify(mac)} is not six hex bytes`);
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

function randomMac(): Uint8Array {
  const m = crypto.getRandomValues(new Uint8Array(6));
  m[0] = (m[0] & 0xfe) | 0x02; // unicast, locally administered
  return m;
}

/** The saved form of a NIC: the MAC the guest read at probe time. */
const netStateSchema = z.strictObject({
  mac: z.string().check(z.regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/)),
});

function formatMac(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/**
 * A virtio network device bound to one tap queue, or a NIC slot without a
 * tap ({@link VirtioNet.slot}) whose frames go nowhere: the NIC a template
 * VM boots with, which each restored clone backs with its pod's tap.
 */
export class VirtioNet implements VirtioDevice {
  readonly deviceType = VIRTIO_ID.NET;
  readonly features = 1n << VIRTIO_NET_F_MAC;
  readonly queueMaxSizes = [QUEUE_SIZE, QUEUE_SIZE];
  readonly mac: Uint8Array;
  readonly #fds: number[];
  #ctx?: ActivateContext;
  #pending?: Uint8Array<ArrayBuffer>;
  #loop?: Promise<void>;
  #closed = false;

  private constructor(fd: number, mac: Uint8Array) {
    this.#fds = fd >= 0 ? [fd] : [];
    this.mac = mac;
  }

  /** Opens tap `name` (which must exist) for the guest's NIC. */
  static open(name: string, opts: NetOptions = {}): VirtioNet {
    const mac = opts.mac ? parseMac(opts.mac) : randomMac();
    const fds = openTap(opts.netns ?? "", name, 1, { nonblocking: true });
    try {
      setVnetHdrSize(fds[0], NET_HDR_SIZE);
      return new VirtioNet(fds[0], mac);
    } catch (e) {
      closeTapFds(fds);
      throw e;
    }
  }

  /** A NIC without a tap (transmitted frames are dropped, nothing is received). */
  static slot(mac?: string): VirtioNet {
    return new VirtioNet(-1, mac ? parseMac(mac) : randomMac());
  }

  /** Whether a tap backs the NIC. */
  get hasTap(): boolean {
    return this.#fds.length > 0;
  }

  /**
   * The MAC the guest read when it probed the NIC. A restored NIC keeps its
   * own: a clone's agent sets the pod's MAC on the interface, never the
   * template's, so two clones never share one.
   */
  saveState(): DeviceState {
    return { mac: formatMac(this.mac) } satisfies z.infer<typeof netStateSchema>;
  }

  restoreState(state: unknown): void {
    parseState(netStateSchema, state, "a virtio-net NIC");
  }

  readConfig(offset: number, data: Uint8Array): void {
    readConfigBytes(this.mac, offset, data);
  }

  writeConfig(): void {}

  activate(ctx: ActivateContext): void {
    this.#ctx = ctx;
    if (this.hasTap) this.#loop ??= this.#rxLoop();
  }

  notify(index: number): void {
    if (index === TX) this.#drainTx();
    else if (index === RX) this.#deliverPending();
  }

  #drainTx(): void {
    const ctx = this.#ctx;
    if (!ctx || this.#closed) return;
    drainQueue(ctx, TX, (descs) => {
      if (!this.hasTap) return 0; // a slot without a tap: the frame is dropped
      const frame = readFromChain(ctx.memory, descs, MAX_FRAME);
      if (frame.length <= NET_HDR_SIZE) return 0;
      try {
        writeFrame(this.#fds[0], frame);
      } catch (e) {
        log.warn("net tx: {error}", { error: String(e) }); // dropped, as a NIC drops
      }
      return 0;
    }, { onError: (e) => log.warn("net tx: {error}", { error: e.message }) });
  }

  /** Puts the held frame into a receive buffer; false when none is free. */
  #deliverPending(): boolean {
    const ctx = this.#ctx;
    const frame = this.#pending;
    if (!ctx || !frame) return true;
    const ranOut = drainQueue(ctx, RX, (descs) => {
      this.#pending = undefined; // delivered, or dropped when it does not fit
      return writableRoom(descs) >= frame.length ? writeToChain(ctx.memory, descs, frame) : 0;
    }, { while: () => this.#pending !== undefined });
    return !ranOut;
  }

  async #rxLoop(): Promise<void> {
    const buf = new Uint8Array(MAX_FRAME);
    while (!this.#closed) {
      if (this.#pending && !this.#deliverPending()) {
        await new Promise((r) => setTimeout(r, 10)); // wait for the guest to post buffers
        continue;
      }
      const ready = await pollReadable(this.#fds, POLL_MS);
      if (this.#closed) break;
      if (ready.length === 0) continue;
      for (;;) {
        let n: number | null;
        try {
          n = readFrame(this.#fds[0], buf);
        } catch (e) {
          log.warn("net rx: {error}", { error: String(e) });
          n = null;
        }
        if (n === null || n <= 0) break;
        const frame = buf.slice(0, n);
        new DataView(frame.buffer).setUint16(10, 1, true); // num_buffers: one buffer per frame
        this.#pending = frame;
        if (!this.#deliverPending()) break;
      }
    }
  }

  reset(): void {
    this.#ctx = undefined;
    this.#pending = undefined;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#ctx = undefined;
    await this.#loop;
    closeTapFds(this.#fds);
  }
}
