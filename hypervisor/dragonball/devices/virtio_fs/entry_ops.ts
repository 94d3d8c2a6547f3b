/**
 * The virtio-fs operations on names and attributes: lookup and forget,
 * getattr and setattr, the creation of directories, nodes, symlinks and hard
 * links, unlink, rmdir, rename, readlink and statfs. Each names a file by
 * one component below a directory inode the guest holds (see session.ts);
 * creation follows the shared rules (no device nodes, no setuid/setgid).
 * @module
 */
import {
  AT,
  chmodPath,
  chownFd,
  fdPath,
  fstatfsFd,
  ftruncateFd,
  linkAt,
  mkdirAt,
  mknodAt,
  readlinkFd,
  renameAt2,
  S,
  statAt,
  symlinkAt,
  truncatePath,
  unlinkAt,
  UTIME,
  utimensAt,
} from "../../../../ffi/fs_at.ts";
import { checkNodeType, safeMode } from "../virtio/guest_fs_rules.ts";
import { E, GuestFsError } from "../virtio/host_errno.ts";
import {
  created,
  dirNode,
  entryOf,
  MAX_TARGET,
  type Operation,
  readBytes,
  readName,
  writable,
} from "./session.ts";
import { BodyWriter, OP, writeAttrOut } from "./wire.ts";

/** `fuse_setattr_in.valid` bits. */
const FATTR = {
  MODE: 1,
  UID: 2,
  GID: 4,
  SIZE: 8,
  ATIME: 16,
  MTIME: 32,
  FH: 64,
  ATIME_NOW: 128,
  MTIME_NOW: 256,
} as const;
const GETATTR_FH = 1;
const RENAME = { NOREPLACE: 1, EXCHANGE: 2, WHITEOUT: 4 } as const;
/** Most forgets one FUSE_BATCH_FORGET may carry (each is 16 bytes). */
const MAX_BATCH = 1 << 16;

const lookup: Operation = (s, h, r) => {
  return entryOf(s, dirNode(s, h), readName(r));
};

const forget: Operation = (s, h, r) => {
  s.inodes.forget(h.nodeid, r.u64("nlookup"));
  return null;
};

const batchForget: Operation = (s, _h, r) => {
  const count = r.u32("count");
  r.u32("dummy");
  if (count > MAX_BATCH || count * 16 > r.remaining) {
    throw new GuestFsError(E.EINVAL, `batch forget of ${count} nodes does not fit its request`);
  }
  for (let i = 0; i < count; i++) s.inodes.forget(r.u64("nodeid"), r.u64("nlookup"));
  return null;
};

const getattr: Operation = (s, h, r) => {
  const flags = r.u32("getattr_flags");
  r.u32("dummy");
  const fh = r.u64("fh");
  const node = s.inodes.get(h.nodeid);
  // An open file answers through its handle: it may be unlinked already.
  const fd = flags & GETATTR_FH ? s.handles.get(fh, false).fd : node.fd;
  return writeAttrOut(new BodyWriter(), s.attrTimeout, statAt(fd)).finish();
};

const setattr: Operation = (s, h, r) => {
  const valid = r.u32("valid");
  r.u32("padding");
  const fh = r.u64("fh");
  const size = r.u64("size");
  r.u64("lock_owner");
  const atime = r.u64("atime");
  const mtime = r.u64("mtime");
  r.u64("ctime");
  const atimeNs = r.u32("atimensec");
  const mtimeNs = r.u32("mtimensec");
  r.u32("ctimensec");
  const mode = r.u32("mode");
  r.u32("unused");
  const uid = r.u32("uid");
  const gid = r.u32("gid");
  const node = s.inodes.get(h.nodeid);
  const link = node.type === S.IFLNK;
  if (valid & (FATTR.MODE | FATTR.UID | FATTR.GID | FATTR.SIZE | FATTR.ATIME | FATTR.MTIME)) {
    writable(s);
  }
  if (valid & FATTR.MODE) {
    if (link) throw new GuestFsError(E.EOPNOTSUPP, "symlinks have no mode to change");
    chmodPath(fdPath(node.fd), safeMode(mode));
  }
  if (valid & (FATTR.UID | FATTR.GID)) {
    chownFd(node.fd, valid & FATTR.UID ? uid : -1, valid & FATTR.GID ? gid : -1);
  }
  if (valid & FATTR.SIZE) {
    if (node.type !== S.IFREG) {
      throw new GuestFsError(E.EINVAL, "only regular files can be truncated");
    }
    if (valid & FATTR.FH) ftruncateFd(s.handles.get(fh, false).fd, size);
    else truncatePath(fdPath(node.fd), size);
  }
  if (valid & (FATTR.ATIME | FATTR.MTIME)) {
    const t = (set: number, now: number, sec: bigint, ns: number): [bigint, number] =>
      !(valid & set) ? [0n, UTIME.OMIT] : valid & now ? [0n, UTIME.NOW] : [sec, ns];
    const at = t(FATTR.ATIME, FATTR.ATIME_NOW, atime, atimeNs);
    const mt = t(FATTR.MTIME, FATTR.MTIME_NOW, mtime, mtimeNs);
    if (link) utimensAt(node.fd, "", at, mt, AT.EMPTY_PATH | AT.SYMLINK_NOFOLLOW);
    else utimensAt(AT.FDCWD, fdPath(node.fd), at, mt, 0);
  }
  return writeAttrOut(new BodyWriter(), s.attrTimeout, statAt(node.fd)).finish();
};

const readlink: Operation = (s, h) => {
  const node = s.inodes.get(h.nodeid);
  if (node.type !== S.IFLNK) throw new GuestFsError(E.EINVAL, `node ${h.nodeid} is not a symlink`);
  return readlinkFd(node.fd, MAX_TARGET + 1);
};

const symlink: Operation = (s, h, r) => {
  const dir = dirNode(s, h);
  const name = readName(r);
  const target = readBytes(r, "symlink target", MAX_TARGET);
  writable(s);
  if (target.length === 0) throw new GuestFsError(E.ENOENT, "symlink target is empty");
  symlinkAt(target, dir.fd, name); // the guest resolves it, never the server
  return created(s, h, dir, name);
};

const mknod: Operation = (s, h, r) => {
  const dir = dirNode(s, h);
  const mode = r.u32("mode");
  r.u32("rdev");
  r.u32("umask");
  r.u32("padding");
  const name = readName(r);
  writable(s);
  checkNodeType(mode);
  mknodAt(dir.fd, name, (mode & S.IFMT) | safeMode(mode));
  return created(s, h, dir, name, safeMode(mode));
};

const mkdir: Operation = (s, h, r) => {
  const dir = dirNode(s, h);
  const mode = r.u32("mode");
  r.u32("umask");
  const name = readName(r);
  writable(s);
  mkdirAt(dir.fd, name, safeMode(mode));
  return created(s, h, dir, name, safeMode(mode));
};

function remove(flags: number): Operation {
  return (s, h, r) => {
    const dir = dirNode(s, h);
    const name = readName(r);
    writable(s);
    unlinkAt(dir.fd, name, flags);
    return new Uint8Array(0);
  };
}

function rename(withFlags: boolean): Operation {
  return (s, h, r) => {
    const from = dirNode(s, h);
    const to = s.inodes.get(r.u64("newdir"));
    const flags = withFlags ? r.u32("flags") : 0;
    if (withFlags) r.u32("padding");
    const oldName = readName(r, "old name");
    const newName = readName(r, "new name");
    writable(s);
    if (to.type !== S.IFDIR) throw new GuestFsError(E.ENOTDIR, "rename target is not a directory");
    if (flags & RENAME.WHITEOUT) {
      // A whiteout is a character device: no device nodes in the share.
      throw new GuestFsError(E.EINVAL, "rename with a whiteout is not supported");
    }
    if (flags & ~(RENAME.NOREPLACE | RENAME.EXCHANGE)) {
      throw new GuestFsError(E.EINVAL, `rename flags 0x${flags.toString(16)} are not supported`);
    }
    renameAt2(from.fd, oldName, to.fd, newName, flags);
    return new Uint8Array(0);
  };
}

const link: Operation = (s, h, r) => {
  const dir = dirNode(s, h);
  const old = s.inodes.get(r.u64("oldnodeid"));
  const name = readName(r);
  writable(s);
  if (old.type === S.IFDIR) throw new GuestFsError(E.EPERM, "cannot hard-link a directory");
  // Through our own fd: links exactly the inode the guest holds (a symlink
  // stays a symlink); the kernel refuses a link across mounts (EXDEV).
  linkAt(AT.FDCWD, fdPath(old.fd), dir.fd, name, AT.SYMLINK_FOLLOW);
  return entryOf(s, dir, name);
};

const statfs: Operation = (s, h) => {
  const st = fstatfsFd(s.inodes.get(h.nodeid).fd);
  return new BodyWriter().u64(st.blocks).u64(st.bfree).u64(st.bavail).u64(st.files).u64(st.ffree)
    .u32(st.bsize).u32(st.namelen).u32(st.frsize).u32(0).zeros(24).finish();
};

/** The name and attribute operations, by opcode. */
export const ENTRY_OPS: ReadonlyArray<[number, Operation]> = [
  [OP.LOOKUP, lookup],
  [OP.FORGET, forget],
  [OP.BATCH_FORGET, batchForget],
  [OP.GETATTR, getattr],
  [OP.SETATTR, setattr],
  [OP.READLINK, readlink],
  [OP.SYMLINK, symlink],
  [OP.MKNOD, mknod],
  [OP.MKDIR, mkdir],
  [OP.UNLINK, remove(0)],
  [OP.RMDIR, remove(AT.REMOVEDIR)],
  [OP.RENAME, rename(false)],
  [OP.RENAME2, rename(true)],
  [OP.LINK, link],
  [OP.STATFS, statfs],
];
