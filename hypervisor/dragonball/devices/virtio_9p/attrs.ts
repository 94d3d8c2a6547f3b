/**
 * File attributes as 9P2000.L carries them: qids, Rgetattr's fields, the
 * dirent type of a listing, and Tsetattr applied to a host file.
 * @module
 */
import type { Fid, ShareRoot } from "./fids.ts";
import { safeMode } from "../virtio/guest_fs_rules.ts";
import { type Qid, QT, type Reader, type Writer } from "./wire.ts";

/** Tsetattr valid bits. */
const SETATTR = {
  MODE: 0x1,
  UID: 0x2,
  GID: 0x4,
  SIZE: 0x8,
  ATIME: 0x10,
  MTIME: 0x20,
  ATIME_SET: 0x80,
  MTIME_SET: 0x100,
} as const;
/** Rgetattr: the basic fields this server fills in. */
const GETATTR_BASIC = 0x7ffn;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const S_IFREG = 0o100000;

/** The qid of a host file: its inode number and kind. */
export function qidOf(info: Deno.FileInfo): Qid {
  const type = info.isDirectory ? QT.DIR : info.isSymlink ? QT.SYMLINK : QT.FILE;
  return { type, version: 0, path: BigInt(info.ino ?? 0) };
}

function modeOf(info: Deno.FileInfo): number {
  if (info.mode !== null && info.mode !== undefined && (info.mode & S_IFMT) !== 0) {
    return info.mode;
  }
  const type = info.isDirectory ? S_IFDIR : info.isSymlink ? S_IFLNK : S_IFREG;
  return type | ((info.mode ?? 0) & 0o7777);
}

/** The `d_type` of a directory entry. */
export function direntType(info: Deno.FileInfo): number {
  if (info.isDirectory) return 4;
  if (info.isSymlink) return 10;
  if (info.isFile) return 8;
  if (info.isFifo) return 1;
  if (info.isSocket) return 12;
  if (info.isCharDevice) return 2;
  if (info.isBlockDevice) return 6;
  return 0;
}

/** Writes Rgetattr's body for `info`. */
export function writeAttr(w: Writer, info: Deno.FileInfo): Writer {
  const t = (d: Date | null) => {
    const ms = d?.getTime() ?? 0;
    return [Math.floor(ms / 1000), (ms % 1000) * 1e6];
  };
  const [as, an] = t(info.atime);
  const [ms, mn] = t(info.mtime);
  const [cs, cn] = t(info.ctime ?? info.mtime);
  const [bs, bn] = t(info.birthtime);
  return w.u64(GETATTR_BASIC).qid(qidOf(info)).u32(modeOf(info)).u32(info.uid ?? 0)
    .u32(info.gid ?? 0).u64(info.nlink ?? 1).u64(info.rdev ?? 0).u64(info.size)
    .u64(info.blksize ?? 4096).u64(info.blocks ?? 0).u64(as).u64(an).u64(ms).u64(mn).u64(cs)
    .u64(cn).u64(bs).u64(bn).u64(0).u64(0);
}

/** Applies a Tsetattr body (after its fid) to fid `f` below `root`. */
export function applySetattr(root: ShareRoot, f: Fid, r: Reader): void {
  const valid = r.u32("valid");
  const mode = r.u32("mode");
  const uid = r.u32("uid");
  const gid = r.u32("gid");
  const size = r.num("size");
  const atime = r.num("atime_sec") * 1000 + Math.floor(r.num("atime_nsec") / 1e6);
  const mtime = r.num("mtime_sec") * 1000 + Math.floor(r.num("mtime_nsec") / 1e6);
  // CTIME alone (0x40) changes nothing the host does not update itself.
  if (!(valid & 0x1bf)) return;
  root.writable();
  root.noSymlink(f.parts);
  const path = root.host(f.parts);
  if (valid & SETATTR.MODE) Deno.chmodSync(path, safeMode(mode)); // never setuid/setgid
  if (valid & (SETATTR.UID | SETATTR.GID)) {
    Deno.chownSync(path, valid & SETATTR.UID ? uid : null, valid & SETATTR.GID ? gid : null);
  }
  if (valid & SETATTR.SIZE) {
    if (f.file) f.file.truncateSync(size);
    else Deno.truncateSync(path, size);
  }
  if (valid & (SETATTR.ATIME | SETATTR.MTIME)) {
    const info = Deno.statSync(path);
    const now = new Date();
    const a = !(valid & SETATTR.ATIME)
      ? info.atime ?? now
      : valid & SETATTR.ATIME_SET
      ? new Date(atime)
      : now;
    const m = !(valid & SETATTR.MTIME)
      ? info.mtime ?? now
      : valid & SETATTR.MTIME_SET
      ? new Date(mtime)
      : now;
    Deno.utimeSync(path, a, m);
  }
}
