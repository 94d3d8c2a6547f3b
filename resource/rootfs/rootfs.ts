/**
 * A container's root file system given to the guest, one of two ways:
 * - shared: containerd's mounts (or the bundle's prepared `rootfs/` when
 *   there are none) mounted at `<shared>/<cid>/rootfs`, which the guest sees
 *   through the shared file system at `…/containers/<cid>/rootfs`;
 * - block: a snapshot that is a block device (devmapper) handed to the VM
 *   as a disk and mounted by the agent from a `Storage`.
 * Without a shared file system only the block way exists; an overlay
 * snapshot is then refused with a clear error.
 * @module
 */
import { FailedPreconditionError, UnimplementedError } from "../../common/errors.ts";
import { isBlockDevice as hostIsBlockDevice } from "../../common/fs.ts";
import { getLogger } from "../../common/log.ts";
import { mount } from "../../ffi/mount.ts";
import type { BlockDevice, Device } from "../../hypervisor/device.ts";
import type { SharedLayout } from "../share_fs/layout.ts";
import { mountsUnder, removeEmptyDirs, unmountAll } from "../share_fs/mounts.ts";
import type { AgentStorage } from "../share_fs/share_fs.ts";

const log = getLogger("resource.rootfs");

/** A mount as containerd passes it for the rootfs. */
export interface RootfsMount {
  type: string;
  source: string;
  options: string[];
}

/** What the rootfs needs from the VM's device manager. */
export interface BlockAttacher {
  attach(d: Device): Promise<{ device: Device & { id: string } }>;
  detach(id: string): Promise<void>;
}

/** Options of {@link attachRootfs}. */
interface RootfsOptions {
  cid: string;
  /** containerd's rootfs mounts (may be empty: the bundle holds a prepared rootfs). */
  mounts: readonly RootfsMount[];
  /** The bundle directory. */
  bundle: string;
  /** `root.path` of the OCI spec (relative to the bundle or absolute). */
  specRootPath: string;
  layout: SharedLayout;
  /** Whether a shared file system exists. */
  shared: boolean;
  /** Whether the VM takes block devices. */
  blockDevices: boolean;
  /** The agent's block driver name for this VMM (`blk`, `mmioblk`, `scsi`). */
  blockDriver: string;
  devices: BlockAttacher;
  /** Tells whether a path is a block device (tests replace it). */
  isBlockDevice?: (path: string) => boolean;
}

/** An attached rootfs: what the agent needs, and how to undo it. */
export interface AttachedRootfs {
  /** `root.path` in the spec sent to the agent. */
  guestPath: string;
  /** Storages to send with CreateContainer. */
  storages: AgentStorage[];
  /** The host mount point (shared way). */
  hostPath?: string;
  /** The block device id (block way). */
  deviceId?: string;
}

/** Chooses the way: block when the single mount is a block device and the VM takes one. */
export function rootfsWay(
  mounts: readonly RootfsMount[],
  shared: boolean,
  blockDevices: boolean,
  isBlockDevice: (p: string) => boolean = hostIsBlockDevice,
): "shared" | "block" {
  if (mounts.length === 1 && blockDevices && isBlockDevice(mounts[0].source)) return "block";
  if (shared) return "shared";
  throw new UnimplementedError(
    mounts.length === 0
      ? "Cannot give the container rootfs to the VM: no shared file system and no block device rootfs"
      : `Cannot give a ${mounts[0].type} rootfs to the VM: it has no shared file system; ` +
        "use a block device snapshotter (devmapper)",
  );
}

/** Attaches a container's rootfs; on failure nothing is left behind. */
export async function attachRootfs(o: RootfsOptions): Promise<AttachedRootfs> {
  const way = rootfsWay(o.mounts, o.shared, o.blockDevices, o.isBlockDevice);
  if (way === "block") {
    const m = o.mounts[0];
    const dev: BlockDevice = { kind: "block", path: m.source, readOnly: m.options.includes("ro") };
    const rec = await o.devices.attach(dev);
    const added = rec.device as BlockDevice & { id: string };
    const guestPath = o.layout.blockRootfsGuest(o.cid);
    return {
      guestPath,
      deviceId: added.id,
      storages: [{
        driver: o.blockDriver,
        driverOptions: [],
        source: added.guestPath ?? "",
        fstype: m.type,
        options: m.options.filter((x) => x !== "ro" && x !== "rw"),
        mountPoint: guestPath,
      }],
    };
  }
  const target = o.layout.rootfsHost(o.cid);
  if (mountsUnder(target).length > 0) {
    throw new FailedPreconditionError(`Cannot mount the rootfs of "${o.cid}": ${target} is in use`);
  }
  Deno.mkdirSync(target, { recursive: true, mode: 0o755 });
  try {
    if (o.mounts.length === 0) {
      const src = o.specRootPath.startsWith("/")
        ? o.specRootPath
        : `${o.bundle}/${o.specRootPath || "rootfs"}`;
      mount(src, target, "", ["rbind"]);
    } else {
      for (const m of o.mounts) mount(m.source, target, m.type, m.options);
    }
  } catch (e) {
    unmountAll(target);
    removeEmptyDirs(target, o.layout.hostDir);
    throw e;
  }
  log.debug("rootfs of {cid} mounted at {target}", { cid: o.cid, target });
  return { guestPath: o.layout.rootfsGuest(o.cid), storages: [], hostPath: target };
}

/**
 * Undoes {@link attachRootfs}: unmounts and removes the host mount point, or
 * detaches the block device (skipped when the VM is gone, which took it along).
 */
export async function detachRootfs(
  r: AttachedRootfs,
  layout: SharedLayout,
  devices: BlockAttacher,
  vmGone: boolean,
): Promise<void> {
  if (r.hostPath) {
    for (const mp of mountsUnder(r.hostPath)) unmountAll(mp);
    removeEmptyDirs(r.hostPath, layout.hostDir);
  }
  if (r.deviceId && !vmGone) await devices.detach(r.deviceId);
}
