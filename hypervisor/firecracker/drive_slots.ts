/**
 * Firecracker's drive slots. Firecracker cannot hotplug, so `prepareVm`
 * declares placeholder drives `drive1`..`drive5` (empty files) and a block
 * device later takes a free slot: its drive is re-pointed at the device's
 * file (PUT before boot, PATCH after) and the guest sees `/dev/vd<b..f>`.
 * Slot 0 is the VM's rootfs (`/dev/vda`). The bookkeeping is the shared
 * placeholder-slot concept of hypervisor/block_slots.ts.
 * @module
 */
import { BlockSlots } from "../block_slots.ts";
import type { BlockDevice } from "../device.ts";
import { type FirecrackerApi, toFcRateLimiter } from "./api.ts";
import type { FirecrackerJail } from "./jail.ts";
import { PLACEHOLDER_DRIVES } from "./options.ts";

type SlotDevice = BlockDevice & { id: string };

/** Which block device holds which placeholder slot (1..5) of one VM (see block_slots.ts). */
export class DriveSlots extends BlockSlots<SlotDevice> {
  constructor() {
    super(1, PLACEHOLDER_DRIVES, {
      owner: "Firecracker",
      kind: "drive",
      slotName: (i) => `drive${i}`,
    });
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
