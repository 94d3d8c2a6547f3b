/**
 * Direct-assigned block volumes (kata-ctl `direct-volume add`): a container
 * mount whose source is a registered direct volume gets that volume's block
 * device as a disk of the VM, mounted by the guest agent from a `Storage`,
 * and the container's mount becomes a bind of the storage's guest mount
 * point. Nothing of the host path is shared.
 *
 * One file system must never be mounted from two disks at once (two guest
 * kernels' or two mounts' caches over one ext4 corrupt it), so a volume is
 * used by one container of a sandbox at a time (a second is refused), and a
 * device mounted on the host is refused.
 * @module
 */
import { FailedPreconditionError, InvalidArgumentError } from "../../common/errors.ts";
import { splitRdev } from "../../common/fs.ts";
import { getLogger } from "../../common/log.ts";
import type { BlockDevice } from "../../hypervisor/device.ts";
import type { BlockAttacher } from "../rootfs/rootfs.ts";
import { GUEST_CONTAINER_DIR } from "../share_fs/layout.ts";
import { mountsOfDevice } from "../share_fs/mounts.ts";
import type { AgentStorage } from "../share_fs/share_fs.ts";
import { type DirectVolumeMountInfo, encodeVolumePath } from "./direct_volume.ts";

const log = getLogger("resource.volume");

/** An OCI spec mount (JSON), as far as a block volume reads it. */
interface BlockVolumeMount {
  destination: string;
  source?: string;
  type?: string;
  options?: string[];
}

/** A direct volume attached to the VM for one container. */
export interface AttachedBlockVolume {
  volumePath: string;
  /** The device manager's id of the disk. */
  deviceId: string;
  /** Where the agent mounts the volume's file system in the guest. */
  guestPath: string;
  storage: AgentStorage;
}

/**
 * Which container of a sandbox holds which direct volume, and where the guest
 * mounts it (the management socket's volume stats and resize look it up).
 */
export class DirectVolumeClaims {
  readonly #byPath = new Map<string, { cid: string; guestPath: string }>();

  /** Records that `cid` uses `volumePath`. @throws {FailedPreconditionError} when another container does */
  claim(volumePath: string, cid: string, guestPath: string): void {
    const held = this.#byPath.get(volumePath);
    if (held && held.cid !== cid) {
      throw new FailedPreconditionError(
        `Direct volume ${volumePath} is in use by container ${held.cid}: ` +
          "its file system cannot be mounted twice",
      );
    }
    this.#byPath.set(volumePath, { cid, guestPath });
  }

  /** Drops the claim of `cid` on `volumePath` (no-op when it holds none). */
  release(volumePath: string, cid: string): void {
    if (this.#byPath.get(volumePath)?.cid === cid) this.#byPath.delete(volumePath);
  }

  /** The guest path `volumePath` is mounted at, if a container uses it. */
  guestPathOf(volumePath: string): string | undefined {
    return this.#byPath.get(volumePath)?.guestPath;
  }
}

/** What attaching a block volume needs from the container and its VM. */
export interface BlockVolumeContext {
  cid: string;
  devices: BlockAttacher;
  /** The agent's block driver name for this VMM (`blk`, `mmioblk`, `scsi`). */
  blockDriver: string;
  claims: DirectVolumeClaims;
  /**
   * The block device's `major:minor`, or null when `path` is not a block
   * device (tests replace it).
   */
  blockDeviceNumber?: (path: string) => string | null;
  /** The host's mount table (tests replace it). */
  mountinfo?: () => string;
}

function defaultBlockDeviceNumber(path: string): string | null {
  try {
    const st = Deno.statSync(path);
    if (st.isBlockDevice !== true || st.rdev === null) return null;
    const { major, minor } = splitRdev(st.rdev);
    return `${major}:${minor}`;
  } catch {
    return null;
  }
}

/** The guest mount point of a container's direct volume. */
export function blockVolumeGuestPath(cid: string, volumePath: string): string {
  return `${GUEST_CONTAINER_DIR}/${cid}/direct-volumes/${encodeVolumePath(volumePath)}`;
}

/**
 * Attaches the device of direct volume `m.source` (registered as `info`) to
 * the VM; returns the container's mount re-pointed at the guest mount point
 * and what to undo. Read-only when the mount or the mount info says `ro`.
 * @throws {InvalidArgumentError} when the registered device is not a block device
 * @throws {FailedPreconditionError} when another container uses the volume or
 *   the host has its device mounted
 */
export async function attachBlockVolume(
  m: BlockVolumeMount,
  info: DirectVolumeMountInfo,
  o: BlockVolumeContext,
): Promise<{ mount: BlockVolumeMount; volume: AttachedBlockVolume }> {
  const volumePath = m.source!;
  const number = (o.blockDeviceNumber ?? defaultBlockDeviceNumber)(info.device);
  if (number === null) {
    throw new InvalidArgumentError(
      `Direct volume ${volumePath}: device ${info.device} is not a block device ` +
        "(attach an image file with losetup and register the loop device)",
    );
  }
  const onHost = mountsOfDevice(number, o.mountinfo?.());
  if (onHost.length > 0) {
    throw new FailedPreconditionError(
      `Direct volume ${volumePath}: device ${info.device} is mounted on the host at ` +
        `${onHost.join(", ")}; a file system mounted twice is corrupted`,
    );
  }
  const guestPath = blockVolumeGuestPath(o.cid, volumePath);
  o.claims.claim(volumePath, o.cid, guestPath);
  const readOnly = (m.options ?? []).includes("ro") || info.options.includes("ro");
  let deviceId: string;
  let source: string;
  try {
    const dev: BlockDevice = { kind: "block", path: info.device, readOnly };
    const added = (await o.devices.attach(dev)).device as BlockDevice & { id: string };
    deviceId = added.id;
    source = added.guestPath ?? "";
  } catch (e) {
    o.claims.release(volumePath, o.cid);
    throw e;
  }
  log.info("direct volume {path} ({device}) attached to {cid} as {id}", {
    path: volumePath,
    device: info.device,
    cid: o.cid,
    id: deviceId,
  });
  const storage: AgentStorage = {
    driver: o.blockDriver,
    driverOptions: [],
    source,
    fstype: info.fs_type,
    options: [...info.options.filter((x) => x !== "rw" && x !== "ro"), ...(readOnly ? ["ro"] : [])],
    mountPoint: guestPath,
  };
  const bindOptions = ["rbind", readOnly ? "ro" : "rw"];
  return {
    mount: { ...m, source: guestPath, type: "bind", options: bindOptions },
    volume: { volumePath, deviceId, guestPath, storage },
  };
}

/**
 * Undoes {@link attachBlockVolume}: detaches the disk (skipped when the VM is
 * gone, which took it along) and drops the claim.
 */
export async function detachBlockVolume(
  v: AttachedBlockVolume,
  o: { cid: string; devices: BlockAttacher; claims: DirectVolumeClaims },
  vmGone: boolean,
): Promise<void> {
  try {
    if (!vmGone) await o.devices.detach(v.deviceId);
  } finally {
    o.claims.release(v.volumePath, o.cid);
  }
}
