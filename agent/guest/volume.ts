/**
 * The volume RPCs of the guest agent: GetVolumeStats (capacity and inode
 * usage of the file system mounted at a volume's guest path, as upstream's
 * agent reports it, from statfs) and ResizeVolume (grows the file system of
 * a block volume online, once the host has grown the disk and the guest
 * sees the new capacity).
 * @module
 */
import { create } from "@bufbuild/protobuf";
import {
  type VolumeStatsResponse,
  VolumeStatsResponseSchema,
  VolumeUsage_Unit,
} from "../gen/csi_pb.ts";
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnimplementedError,
} from "../../common/errors.ts";
import { type FsStats, statfs } from "../../ffi/fs.ts";

/**
 * Usage of the file system at `path`: bytes (total, available to
 * unprivileged users, used) and inodes (total, free, used).
 * @throws {NotFoundError} when `path` does not exist
 */
export function volumeStats(
  path: string,
  stat: (p: string) => FsStats = statfs,
): VolumeStatsResponse {
  if (!path.startsWith("/")) {
    throw new InvalidArgumentError(`Invalid volume guest path "${path}": not absolute`);
  }
  try {
    Deno.statSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new NotFoundError(`Volume guest path ${path} does not exist`);
    }
    throw e;
  }
  const s = stat(path);
  const bs = BigInt(s.blockSize);
  return create(VolumeStatsResponseSchema, {
    usage: [
      {
        total: s.blocks * bs,
        available: s.blocksAvailable * bs,
        used: (s.blocks - s.blocksFree) * bs,
        unit: VolumeUsage_Unit.BYTES,
      },
      {
        total: s.files,
        available: s.filesFree,
        used: s.files - s.filesFree,
        unit: VolumeUsage_Unit.INODES,
      },
    ],
    volumeCondition: { abnormal: false, message: "" },
  });
}

/** A mount from /proc/self/mountinfo. */
interface MountEntry {
  mountPoint: string;
  fstype: string;
  source: string;
}

/** The last (topmost) mount at exactly `path` in a mountinfo text. */
export function mountAt(mountinfo: string, path: string): MountEntry | undefined {
  const unescape = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  const want = path.replace(/\/+$/, "") || "/";
  let found: MountEntry | undefined;
  for (const line of mountinfo.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const f = line.slice(0, sep).split(" ");
    const [fstype, source] = line.slice(sep + 3).split(" ");
    if (unescape(f[4]) === want) found = { mountPoint: want, fstype, source: unescape(source) };
  }
  return found;
}

/** What {@link resizeVolume} needs from the guest (replaced in tests). */
export interface ResizeDeps {
  mountinfo(): Promise<string>;
  /** Size in bytes of block device `dev` (e.g. /dev/vdb). */
  deviceBytes(dev: string): Promise<number>;
  run(cmd: string, args: string[]): Promise<void>;
}

const realDeps: ResizeDeps = {
  mountinfo: () => Deno.readTextFile("/proc/self/mountinfo"),
  async deviceBytes(dev) {
    const name = (await Deno.realPath(dev)).split("/").pop()!;
    const sectors = Number((await Deno.readTextFile(`/sys/class/block/${name}/size`)).trim());
    return sectors * 512;
  },
  async run(cmd, args) {
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new FailedPreconditionError(`Cannot resize the volume: ${cmd} is not in the guest`);
      }
      throw e;
    }
    if (!out.success) {
      const err = new TextDecoder().decode(out.stderr).trim();
      throw new FailedPreconditionError(`${cmd} ${args.join(" ")} failed: ${err}`);
    }
  },
};

/**
 * Grows the file system mounted at `path` to fill its block device, which
 * must already hold at least `size` bytes (the host grows the disk first;
 * virtio-blk tells the guest the new capacity). ext2/3/4 use resize2fs on
 * the device, xfs uses xfs_growfs on the mount point.
 * @throws {NotFoundError} when nothing is mounted at `path`
 * @throws {FailedPreconditionError} when the device is smaller than `size` or not a block device
 * @throws {UnimplementedError} for other file systems
 */
export async function resizeVolume(
  path: string,
  size: bigint,
  deps: ResizeDeps = realDeps,
): Promise<void> {
  const m = mountAt(await deps.mountinfo(), path);
  if (!m) throw new NotFoundError(`Cannot resize volume ${path}: nothing is mounted there`);
  if (!m.source.startsWith("/dev/")) {
    throw new FailedPreconditionError(
      `Cannot resize volume ${path}: its source ${m.source} is not a block device`,
    );
  }
  const bytes = await deps.deviceBytes(m.source);
  if (BigInt(bytes) < size) {
    throw new FailedPreconditionError(
      `Cannot resize volume ${path} to ${size} bytes: ${m.source} holds ${bytes} bytes (grow the disk on the host first)`,
    );
  }
  switch (m.fstype) {
    case "ext2":
    case "ext3":
    case "ext4":
      return await deps.run("resize2fs", [m.source]);
    case "xfs":
      return await deps.run("xfs_growfs", [m.mountPoint]);
    default:
      throw new UnimplementedError(
        `Cannot resize volume ${path}: growing ${m.fstype} is not supported`,
      );
  }
}
