/**
 * The virtio-mmio transport, version 2 (virtio 1.x, section 4.2): the
 * register page through which the driver negotiates features, programs the
 * queues and notifies the device, and the interrupt status it reads back.
 * @module
 */
import type { BusDevice } from "../../bus.ts";
import type { GuestMemory } from "../../memory.ts";
import type { Interrupt } from "../../interrupt.ts";
import { getLogger } from "../../../../common/log.ts";
import { VIRTIO_F_VERSION_1, type VirtioDevice } from "./device.ts";
import { Queue } from "./queue.ts";
import * as z from "../../../../common/zod.ts";
import { FailedPreconditionError, InvalidArgumentError } from "../../../../common/errors.ts";
import { type DeviceState, parseState, type Stateful, u32, uint } from "../state.ts";

const log = getLogger("hypervisor.dragonball.devices.virtio");

const MAGIC = 0x74726976; // "virt"
const VERSION = 2;
const VENDOR_ID = 0x554d4551; // "QEMU", which Linux accepts like any other
const REG = {
  MAGIC: 0x000,
  VERSION: 0x004,
  DEVICE_ID: 0x008,
  VENDOR_ID: 0x00c,
  DEVICE_FEATURES: 0x010,
  DEVICE_FEATURES_SEL: 0x014,
  DRIVER_FEATURES: 0x020,
  DRIVER_FEATURES_SEL: 0x024,
  QUEUE_SEL: 0x030,
  QUEUE_NUM_MAX: 0x034,
  QUEUE_NUM: 0x038,
  QUEUE_READY: 0x044,
  QUEUE_NOTIFY: 0x050,
  INTERRUPT_STATUS: 0x060,
  INTERRUPT_ACK: 0x064,
  STATUS: 0x070,
  QUEUE_DESC_LOW: 0x080,
  QUEUE_DESC_HIGH: 0x084,
  QUEUE_DRIVER_LOW: 0x090,
  QUEUE_DRIVER_HIGH: 0x094,
  QUEUE_DEVICE_LOW: 0x0a0,
  QUEUE_DEVICE_HIGH: 0x0a4,
  SHM_LEN_LOW: 0x0b0,
  SHM_LEN_HIGH: 0x0b4,
  SHM_BASE_LOW: 0x0b8,
  SHM_BASE_HIGH: 0x0bc,
  CONFIG_GENERATION: 0x0fc,
  CONFIG: 0x100,
} as const;
const STATUS_FEATURES_OK = 8;
const STATUS_DRIVER_OK = 4;
const STATUS_FAILED = 0x80;
const INT_USED_RING = 1;
const INT_CONFIG = 2;

function setHalf(value: number, half: "low" | "high", word: number): number {
  const hi = Math.floor(value / 0x1_0000_0000);
  const lo = value % 0x1_0000_0000;
  return half === "low" ? hi * 0x1_0000_0000 + word : word * 0x1_0000_0000 + lo;
}

const queueStateSchema = z.strictObject({
  size: u32(),
  ready: z.boolean(),
  descTable: uint(),
  availRing: uint(),
  usedRing: uint(),
  nextAvail: u32(),
  nextUsed: u32(),
});

/** The saved form of a transport: its registers, every queue, and the device's own state. */
const transportStateSchema = z.strictObject({
  deviceType: u32(),
  status: u32(),
  deviceFeaturesSel: u32(),
  driverFeaturesSel: u32(),
  /** Negotiated features as a hex string (64 bits do not fit a JSON number). */
  driverFeatures: z.string().check(z.regex(/^[0-9a-f]{1,16}$/)),
  queueSel: u32(),
  interruptStatus: u32(),
  active: z.boolean(),
  configGeneration: u32(),
  queues: z.array(queueStateSchema),
  device: z.unknown(),
});

/** A virtio device behind an MMIO register window. */
export class VirtioMmioTransport implements BusDevice, Stateful {
  readonly #queues: Queue[];
  #status = 0;
  #deviceFeaturesSel = 0;
  #driverFeaturesSel = 0;
  #driverFeatures = 0n;
  #queueSel = 0;
  #interruptStatus = 0;
  #active = false;
  /** Bumped on each configuration change, so a driver can tell a torn config read. */
  #configGeneration = 0;

  constructor(
    private readonly device: VirtioDevice,
    private readonly memory: GuestMemory,
    private readonly irq: Interrupt,
  ) {
    this.#queues = device.queueMaxSizes.map((n) => new Queue(n));
    device.bindConfigChange?.(() => this.configChanged());
  }

  /**
   * The device's configuration changed (a block device got a new backing
   * file): bumps the generation and, once the driver is up, raises the
   * configuration-change interrupt (Linux virtio-blk then re-reads capacity).
   */
  configChanged(): void {
    this.#configGeneration = (this.#configGeneration + 1) >>> 0;
    if (!(this.#status & STATUS_DRIVER_OK)) return;
    this.#interruptStatus |= INT_CONFIG;
    this.irq.trigger();
  }

  get #offered(): bigint {
    return this.device.features | (1n << VIRTIO_F_VERSION_1);
  }

  #queue(): Queue | undefined {
    return this.#queues[this.#queueSel];
  }

  read(offset: number, data: Uint8Array): void {
    if (offset >= REG.CONFIG) {
      this.device.readConfig(offset - REG.CONFIG, data);
      return;
    }
    let v = 0;
    const q = this.#queue();
    switch (offset) {
      case REG.MAGIC:
        v = MAGIC;
        break;
      case REG.VERSION:
        v = VERSION;
        break;
      case REG.DEVICE_ID:
        v = this.device.deviceType;
        break;
      case REG.VENDOR_ID:
        v = VENDOR_ID;
        break;
      case REG.DEVICE_FEATURES:
        v = this.#deviceFeaturesSel > 1
          ? 0
          : Number((this.#offered >> BigInt(32 * this.#deviceFeaturesSel)) & 0xffffffffn);
        break;
      case REG.QUEUE_NUM_MAX:
        v = q?.maxSize ?? 0;
        break;
      case REG.QUEUE_READY:
        v = q?.ready ? 1 : 0;
        break;
      case REG.INTERRUPT_STATUS:
        v = this.#interruptStatus;
        break;
      case REG.STATUS:
        v = this.#status;
        break;
      case REG.CONFIG_GENERATION:
        v = this.#configGeneration;
        break;
      case REG.SHM_LEN_LOW:
      case REG.SHM_LEN_HIGH:
      case REG.SHM_BASE_LOW:
      case REG.SHM_BASE_HIGH:
        // No device has a shared memory region (no DAX window): the spec's
        // answer for an absent region is all ones. A zero length would read
        // as a region of 0 bytes, which Linux's virtio-fs then fails to map.
        v = 0xffffffff;
        break;
    }
    // Registers are 32-bit; a narrower read gets the low bytes (Linux only reads 32 bits).
    const word = new Uint8Array(4);
    new DataView(word.buffer).setUint32(0, v >>> 0, true);
    data.fill(0);
    data.set(word.subarray(0, Math.min(4, data.length)));
  }

  write(offset: number, data: Uint8Array): void {
    if (offset >= REG.CONFIG) {
      this.device.writeConfig(offset - REG.CONFIG, data);
      return;
    }
    if (data.length !== 4) return; // registers are 32-bit; other widths are ignored
    const v = new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true);
    const q = this.#queue();
    const settingUp = !(this.#status & STATUS_DRIVER_OK);
    switch (offset) {
      case REG.DEVICE_FEATURES_SEL:
        this.#deviceFeaturesSel = v;
        break;
      case REG.DRIVER_FEATURES_SEL:
        this.#driverFeaturesSel = v;
        break;
      case REG.DRIVER_FEATURES:
        if (this.#driverFeaturesSel <= 1 && !(this.#status & STATUS_FEATURES_OK)) {
          const shift = BigInt(32 * this.#driverFeaturesSel);
          this.#driverFeatures = (this.#driverFeatures & ~(0xffffffffn << shift)) |
            (BigInt(v) << shift);
        }
        break;
      case REG.QUEUE_SEL:
        this.#queueSel = v;
        break;
      case REG.QUEUE_NUM:
        if (q && settingUp) q.size = v;
        break;
      case REG.QUEUE_READY:
        if (q && settingUp) q.ready = v === 1;
        break;
      case REG.QUEUE_DESC_LOW:
      case REG.QUEUE_DESC_HIGH:
        if (q && settingUp) {
          q.descTable = setHalf(q.descTable, offset === REG.QUEUE_DESC_LOW ? "low" : "high", v);
        }
        break;
      case REG.QUEUE_DRIVER_LOW:
      case REG.QUEUE_DRIVER_HIGH:
        if (q && settingUp) {
          q.availRing = setHalf(q.availRing, offset === REG.QUEUE_DRIVER_LOW ? "low" : "high", v);
        }
        break;
      case REG.QUEUE_DEVICE_LOW:
      case REG.QUEUE_DEVICE_HIGH:
        if (q && settingUp) {
          q.usedRing = setHalf(q.usedRing, offset === REG.QUEUE_DEVICE_LOW ? "low" : "high", v);
        }
        break;
      case REG.QUEUE_NOTIFY:
        if (this.#active && v < this.#queues.length) {
          try {
            this.device.notify(v);
          } catch (e) {
            log.warn("virtio device {type}: queue {q}: {error}", {
              type: this.device.deviceType,
              q: v,
              error: String(e),
            });
          }
        }
        break;
      case REG.INTERRUPT_ACK:
        this.#interruptStatus &= ~v;
        break;
      case REG.STATUS:
        this.#setStatus(v);
        break;
    }
  }

  #setStatus(v: number): void {
    if (v === 0) {
      this.#reset();
      return;
    }
    if ((v & STATUS_FEATURES_OK) && !(this.#status & STATUS_FEATURES_OK)) {
      // Refuse features the device never offered (and require VERSION_1).
      const ok = (this.#driverFeatures & ~this.#offered) === 0n &&
        (this.#driverFeatures & (1n << VIRTIO_F_VERSION_1)) !== 0n;
      if (!ok) v &= ~STATUS_FEATURES_OK;
    }
    this.#status = v;
    if ((v & STATUS_DRIVER_OK) && !this.#active && !(v & STATUS_FAILED)) this.#activate();
  }

  #activate(): void {
    const bad = this.#queues.findIndex((q) => q.ready && !q.isValid(this.memory));
    if (bad >= 0) {
      log.warn("virtio device {type}: queue {q} is set up outside guest memory", {
        type: this.device.deviceType,
        q: bad,
      });
      this.#status |= 0x40; // DEVICE_NEEDS_RESET
      return;
    }
    this.#active = true;
    this.device.activate({
      memory: this.memory,
      queues: this.#queues,
      features: this.#driverFeatures,
      signalUsed: () => {
        this.#interruptStatus |= INT_USED_RING;
        this.irq.trigger();
      },
    });
  }

  #reset(): void {
    if (this.#active) this.device.reset();
    this.#active = false;
    this.#status = 0;
    this.#driverFeatures = 0n;
    this.#interruptStatus = 0;
    this.#queueSel = 0;
    for (const q of this.#queues) q.reset();
  }

  /** The transport's registers, its queues and the device's state, for a snapshot. */
  saveState(): DeviceState {
    return {
      deviceType: this.device.deviceType,
      status: this.#status,
      deviceFeaturesSel: this.#deviceFeaturesSel,
      driverFeaturesSel: this.#driverFeaturesSel,
      driverFeatures: this.#driverFeatures.toString(16),
      queueSel: this.#queueSel,
      interruptStatus: this.#interruptStatus,
      active: this.#active,
      configGeneration: this.#configGeneration,
      queues: this.#queues.map((q) => q.saveState()),
      device: this.device.saveState(),
    } satisfies z.infer<typeof transportStateSchema>;
  }

  /**
   * Takes back a saved transport: the saved device must be this device's
   * type with as many queues; queues of an active device must lie in guest
   * memory. The device is restored, then activated when it was active;
   * {@link resumeAfterRestore} follows once the vCPUs are restored.
   */
  restoreState(state: unknown): void {
    const what = `virtio device ${this.device.deviceType}`;
    const s = parseState(transportStateSchema, state, what);
    if (s.deviceType !== this.device.deviceType || s.queues.length !== this.#queues.length) {
      throw new InvalidArgumentError(
        `Saved virtio device ${s.deviceType} with ${s.queues.length} queues does not match ` +
          `${what} with ${this.#queues.length} queues`,
      );
    }
    if (this.#active) {
      throw new FailedPreconditionError(`Cannot restore ${what}: it is already active`);
    }
    const offered = this.#offered;
    const features = BigInt(`0x${s.driverFeatures}`);
    if ((features & ~offered) !== 0n) {
      throw new InvalidArgumentError(
        `Saved ${what} negotiated features 0x${features.toString(16)} this device does not ` +
          `offer (0x${offered.toString(16)})`,
      );
    }
    s.queues.forEach((q, i) => this.#queues[i].restoreState(q));
    this.#status = s.status;
    this.#deviceFeaturesSel = s.deviceFeaturesSel;
    this.#driverFeaturesSel = s.driverFeaturesSel;
    this.#driverFeatures = features;
    this.#queueSel = s.queueSel;
    this.#interruptStatus = s.interruptStatus;
    this.#configGeneration = s.configGeneration;
    this.device.restoreState(s.device);
    if (s.active) {
      const bad = this.#queues.findIndex((q) => q.ready && !q.isValid(this.memory));
      if (bad >= 0) {
        throw new InvalidArgumentError(`Saved ${what} has queue ${bad} outside guest memory`);
      }
      this.#activate();
    }
  }

  /**
   * Tells a restored, active device that the machine is whole again (vCPU
   * state included), so what it sends the guest now (vsock's transport
   * reset) raises an interrupt no later vCPU restore overwrites. Called by
   * the VM once every vCPU has its state, before any runs.
   */
  resumeAfterRestore(): void {
    if (this.#active) this.device.afterRestore?.();
  }

  /** Releases the device's host resources. */
  async close(): Promise<void> {
    this.#active = false;
    await this.device.close();
  }
}
