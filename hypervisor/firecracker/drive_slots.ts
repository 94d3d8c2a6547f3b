/**
 * Firecracker's drive slots. Firecracker cannot hotplug, so `prepareVm`
 * declares placeholder drives `drive1`..`drive5` (empty files) and a block
 * device later takes a free slot: its drive is re-pointed at the device's
 * file (PUT before boot, PATCH after) and the guest sees `/dev/vd<b..f>`.
 * Slot 0 is the VM's rootfs (`/dev/vda`).
 * @module
 */
import { InvalidArgumentError, NotFoundError, UnavailableError } from "../../common/errors.ts";
import type { BlockDevice } from "../device.ts";
import { type FirecrackerApi, toFcRateLimiter } from "./api.ts";
import type { FirecrackerJail } from "./jail.ts";
import { PLACEHOLDER_DRIVES } from "./options.ts";

type SlotDevice = BlockDevice & { id: string };

/** Which block device holds which placeholder slot of one VM. */
export class DriveSlots {
  /** Placeholder slot (1..5) → the block device using it. */
  readonly #slots = new Map<number, SlotDevice>();

  /** The guest path of slot `slot` (`/dev/vda` for the rootfs slot 0). */
  static guestPath(slot: number): string {
    return `/dev/vd${String.fromCharCode(97 + slot)}`;
  }

  /** The slot `d` asks for (`d.index`) or the first free one; refuses a taken or missing slot. */
  pick(d: SlotDevice): number {
    const slot = d.index;
    if (slot !== undefined) {
      if (slot > PLACEHOLDER_DRIVES) {
        throw new InvalidArgumentError(
          `Cannot add block device "${d.id}" at index ${slot}: Firecracker has ${PLACEHOLDER_DRIVES} drive slots`,
        );
      }
      if (this.#slots.has(slot)) {
        throw new InvalidArgumentError(`Cannot add block device "${d.id}": drive${slot} is in use`);
      }
      return slot;
    }
    for (let i = 1; i <= PLACEHOLDER_DRIVES; i++) if (!this.#slots.has(i)) return i;
    throw new UnavailableError(
      `Cannot add block device "${d.id}": all ${PLACEHOLDER_DRIVES} Firecracker drive slots are in use`,
    );
  }

  /** Records that `d` holds `slot`. */
  set(slot: number, d: SlotDevice): void {
    this.#slots.set(slot, d);
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

/** How a drive is re-pointed: at a file, read-only or not, with a rate limiter. */
export interface DriveTarget {
  hostPath: string;
  readOnly: boolean;
  limiter: BlockDevice["rateLimiter"];
}

/** Points placeholder drive `slot` at a file: PUT before boot, PATCH once `booted`. */
export async function pointDrive(
  api: FirecrackerApi,
  jail: FirecrackerJail,
  slot: number,
  t: DriveTarget,
  booted: boolean,
): Promise<void> {
  const path = await jail.pointDrive(slot, t.hostPath);
  const rate_limiter = toFcRateLimiter(t.limiter);
  const driveId = `drive${slot}`;
  if (booted) {
    await api.patchDrive({ drive_id: driveId, path_on_host: path, rate_limiter });
  } else {
    await api.putDrive({
      drive_id: driveId,
      path_on_host: path,
      is_root_device: false,
      is_read_only: t.readOnly,
      ...(rate_limiter ? { rate_limiter } : {}),
    });
  }
}
