/**
 * The device manager: the one place that knows which devices a sandbox's VM
 * has. It gives devices ids, validates them, refuses duplicates, hands them to
 * the driver, and keeps devices added before boot marked `queued` until
 * {@link DeviceManager.boot} has applied them. A device the VM cannot take
 * once running (a NIC without network hotplug) is refused before the driver
 * is called.
 * @module
 */
import { FailedPreconditionError, NotFoundError } from "../common/errors.ts";
import { getLogger } from "../common/log.ts";
import {
  type Device,
  duplicateDevice,
  implicitDeviceId,
  newDeviceId,
  refuseVfio,
  validateDevice,
} from "./device.ts";
import type { Capabilities, Hypervisor } from "./hypervisor.ts";

const log = getLogger("hypervisor.devices");

/** `queued`: accepted before boot, takes effect when the VM boots; `attached`: live in the VM. */
type DeviceStatus = "queued" | "attached";

/** One tracked device. */
interface DeviceRecord {
  device: Device & { id: string };
  status: DeviceStatus;
}

/**
 * The capability a running VM lacks to take this device, or null. Block
 * devices only need block support: drivers without block hotplug may still
 * re-point a pre-created drive (Firecracker) and refuse otherwise themselves.
 */
function hotplugMissing(d: Device, caps: Capabilities): string | null {
  switch (d.kind) {
    case "network":
      return caps.netHotplug ? null : "network hotplug";
    case "block":
      return caps.blockDevice ? null : "block device support";
    case "share_fs":
      return caps.fsSharing ? null : "file system sharing";
    default:
      return null;
  }
}

/** Tracks the devices of one VM. */
export class DeviceManager {
  readonly #hv: Hypervisor;
  readonly #devices = new Map<string, DeviceRecord>();

  constructor(hv: Hypervisor) {
    this.#hv = hv;
  }

  /**
   * Attaches a device: assigns an id when absent (a NIC's is its tap name,
   * as the drivers file it), validates, and passes it to the driver. Before
   * boot the device is `queued` (it takes effect at boot); once the VM runs,
   * a kind the VM cannot hotplug is refused.
   */
  async attach(device: Device): Promise<DeviceRecord> {
    refuseVfio(device);
    const d = { ...device, id: implicitDeviceId(device) ?? newDeviceId() } as Device & {
      id: string;
    };
    validateDevice(d);
    if (this.#devices.has(d.id)) throw duplicateDevice(d, d.id);
    const state = this.#hv.state();
    if (state === "stopped") {
      throw new FailedPreconditionError(`Cannot attach ${d.kind} device "${d.id}": VM is stopped`);
    }
    const missing = hotplugMissing(d, this.#hv.capabilities());
    if (state === "running" && missing) {
      throw new FailedPreconditionError(
        `Cannot attach ${d.kind} device "${d.id}" to running ${this.#hv.kind} VM: no ${missing}`,
      );
    }
    const added = await this.#hv.addDevice(d) as Device & { id: string };
    const status: DeviceStatus = state === "running" ? "attached" : "queued";
    const rec: DeviceRecord = { device: { ...added, id: d.id }, status };
    this.#devices.set(d.id, rec);
    log.debug("device {id} ({kind}) {status}", { id: d.id, kind: d.kind, status });
    return rec;
  }

  /** Detaches a device by id and forgets it. */
  async detach(id: string): Promise<void> {
    const rec = this.get(id);
    await this.#hv.removeDevice(rec.device);
    this.#devices.delete(id);
  }

  /** Boots the VM (`Hypervisor.bootVm`); queued devices become attached. */
  async boot(): Promise<void> {
    await this.#hv.bootVm();
    for (const rec of this.#devices.values()) rec.status = "attached";
  }

  /** The record of one device; NotFoundError when unknown. */
  get(id: string): DeviceRecord {
    const rec = this.#devices.get(id);
    if (!rec) throw new NotFoundError(`Device "${id}" not found`);
    return rec;
  }

  /** All devices, in attach order, optionally of one kind. */
  list(kind?: Device["kind"]): DeviceRecord[] {
    return [...this.#devices.values()].filter((r) => !kind || r.device.kind === kind);
  }
}
