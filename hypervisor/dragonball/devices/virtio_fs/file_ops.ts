/**
 * The virtio-fs operations on open files and directories: open and create,
 * read and write, flush, fsync, release, fallocate, lseek and
 * copy_file_range; opendir, readdir and readdirplus, releasedir. Only
 * regular files and directories are ever opened on the host (a FIFO or a
 * device could block the VMM or reach host hardware); a file is reopened
 * through the O_PATH fd its inode holds, so no path is resolved again.
 * @module
 */
import {
  AT,
  closeAt,
  copyFileRange,
  fallocateFd,
  fdPath,
  getdents,
  lseekFd,
  OF,
  openat2,
  preadFd,
  pwriteFd,
  S,
  syncFd,
} from "../../../../ffi/fs_at.ts";
import { safeMode } from "../virtio/guest_fs_rules.ts";
import { E, GuestFsError } from "../virtio/host_errno.ts";
import type { Inode } from "./nodes.ts";
import {
  BENEATH,
  created,
  dirNode,
  entryOf,
  MAX_WRITE,
  type Operation,
  readName,
  type Session,
  writable,
} from "./session.ts";
import { BodyWriter, direntSize, ENTRY_OUT_SIZE, OP, OUT_HEADER, writeDirent } from "./wire.ts";

/** The open(2) flags a guest's open may carry to the host; the rest are dropped. */
const PASSED_FLAGS = OF.ACCMODE | OF.APPEND | OF.TRUNC | OF.SYNC | OF.DSYNC;
/** Largest copy_file_range served at once (the guest asks again for the rest). */
const MAX_COPY = 64 << 20;
const SEEK = { SET: 0, END: 2, HOLE: 4 } as const;

/** Opens regular file `node` for I/O through its O_PATH fd. */
function reopen(node: Inode, flags: number): number {
  if (node.type === S.IFDIR) throw new GuestFsError(E.EISDIR, `node ${node.id} is a directory`);
  if (node.type === S.IFLNK) throw new GuestFsError(E.ELOOP, "the server does not follow symlinks");
  if (node.type !== S.IFREG) {
    throw new GuestFsError(E.EOPNOTSUPP, "only regular files and directories can be opened");
  }
  return openat2(AT.FDCWD, fdPath(node.fd), (flags & PASSED_FLAGS) | OF.NONBLOCK, 0, 0);
}

function checkOpenFlags(s: Session, flags: number): void {
  if ((flags & OF.ACCMODE) !== 0 || flags & OF.TRUNC) writable(s);
}

function openOut(s: Session, fh: bigint): Uint8Array {
  return new BodyWriter().u64(fh).u32(s.openFlags).u32(0).finish();
}

const open: Operation = (s, h, r) => {
  const flags = r.u32("flags");
  r.u32("open_flags");
  const node = s.inodes.get(h.nodeid);
  checkOpenFlags(s, flags);
  return openOut(s, s.handles.add(reopen(node, flags), node, false));
};

const create: Operation = (s, h, r) => {
  const dir = dirNode(s, h);
  const flags = r.u32("flags");
  const mode = r.u32("mode");
  r.u32("umask");
  r.u32("open_flags");
  const name = readName(r);
  writable(s);
  const base = (flags & PASSED_FLAGS) | OF.NONBLOCK | OF.NOFOLLOW;
  let fd = -1;
  let entry: Uint8Array;
  try {
    fd = openat2(dir.fd, name, base | OF.CREAT | OF.EXCL, safeMode(mode), BENEATH);
    entry = created(s, h, dir, name, safeMode(mode));
  } catch (e) {
    closeAt(fd);
    if (fd >= 0 || flags & OF.EXCL || (e as { errno?: number }).errno !== E.EEXIST) throw e;
    // It exists and the guest did not ask for O_EXCL: open it as FUSE_OPEN would.
    checkOpenFlags(s, flags);
    entry = entryOf(s, dir, name);
  }
  const node = s.inodes.get(new DataView(entry.buffer, entry.byteOffset).getBigUint64(0, true));
  try {
    if (fd < 0) fd = reopen(node, flags);
    const owned = fd;
    fd = -1; // the handle table owns it now, and closes it if it is full
    const fh = s.handles.add(owned, node, false);
    const out = new Uint8Array(entry.length + 16);
    out.set(entry);
    out.set(openOut(s, fh), entry.length);
    return out;
  } catch (e) {
    closeAt(fd);
    s.inodes.forget(node.id, 1n);
    throw e;
  }
};

/** The data goes into the session's read buffer, after room for the reply header. */
const read: Operation = (s, _h, r, room) => {
  const fh = r.u64("fh");
  const offset = r.u64("offset");
  const size = Math.min(r.u32("size"), MAX_WRITE, room);
  const fd = s.handles.get(fh, false).fd;
  const buf = s.readBuffer.subarray(OUT_HEADER, OUT_HEADER + size);
  let got = 0;
  while (got < size) {
    const n = preadFd(fd, buf.subarray(got), offset + BigInt(got));
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
};

const write: Operation = (s, _h, r) => {
  const fh = r.u64("fh");
  const offset = r.u64("offset");
  const size = r.u32("size");
  r.u32("write_flags");
  r.u64("lock_owner");
  r.u32("flags");
  r.u32("padding");
  if (size > MAX_WRITE) {
    throw new GuestFsError(E.EINVAL, `write of ${size} bytes exceeds ${MAX_WRITE}`);
  }
  const data = r.view(size, "write data");
  const fd = s.handles.get(fh, false).fd;
  writable(s);
  let done = 0;
  while (done < size) done += pwriteFd(fd, data.subarray(done), offset + BigInt(done));
  return new BodyWriter().u32(done).u32(0).finish();
};

function handleCheck(dir: boolean): Operation {
  return (s, _h, r) => {
    s.handles.get(r.u64("fh"), dir); // writes go straight to the host: nothing to flush
    return new Uint8Array(0);
  };
}

function release(dir: boolean): Operation {
  return (s, _h, r) => {
    s.handles.release(r.u64("fh"), dir);
    return new Uint8Array(0);
  };
}

function fsync(dir: boolean): Operation {
  return (s, _h, r) => {
    const fh = r.u64("fh");
    const flags = r.u32("fsync_flags");
    syncFd(s.handles.get(fh, dir).fd, (flags & 1) !== 0);
    return new Uint8Array(0);
  };
}

const opendir: Operation = (s, h, r) => {
  r.u32("flags");
  r.u32("open_flags");
  const node = dirNode(s, h);
  const fd = openat2(node.fd, ".", OF.DIRECTORY | OF.NONBLOCK, 0, BENEATH);
  return openOut(s, s.handles.add(fd, node, true));
};

function readdir(plus: boolean): Operation {
  return (s, _h, r, room) => {
    const fh = r.u64("fh");
    const offset = r.u64("offset");
    const size = Math.min(r.u32("size"), room, MAX_WRITE);
    const handle = s.handles.get(fh, true);
    lseekFd(handle.fd, offset, SEEK.SET);
    const w = new BodyWriter();
    for (;;) {
      const entries = getdents(handle.fd, Math.min(32768, Math.max(4096, size * 2)));
      if (entries.length === 0) break;
      for (const e of entries) {
        const need = direntSize(e.name.length) + (plus ? ENTRY_OUT_SIZE : 0);
        if (w.length + need > size) return w.finish();
        if (plus) {
          const dots = e.name.length <= 2 && e.name.every((c) => c === 0x2e);
          let entry: Uint8Array | undefined;
          if (!dots) {
            try {
              entry = entryOf(s, handle.node, e.name);
            } catch (err) {
              if ((err as { errno?: number }).errno === E.ENFILE && w.length > 0) return w.finish();
              if ((err as { errno?: number }).errno === E.ENFILE) throw err;
              // Removed since it was listed: the entry goes without attributes.
            }
          }
          if (entry) w.bytes(entry);
          else w.zeros(ENTRY_OUT_SIZE);
        }
        writeDirent(w, e.ino, e.off, e.type, e.name);
      }
    }
    return w.finish();
  };
}

const fallocate: Operation = (s, _h, r) => {
  const fh = r.u64("fh");
  const offset = r.u64("offset");
  const length = r.u64("length");
  const mode = r.u32("mode");
  const fd = s.handles.get(fh, false).fd;
  writable(s);
  fallocateFd(fd, mode, offset, length);
  return new Uint8Array(0);
};

const lseek: Operation = (s, _h, r) => {
  const fh = r.u64("fh");
  const offset = r.u64("offset");
  const whence = r.u32("whence");
  if (whence > SEEK.HOLE || whence === 1) {
    throw new GuestFsError(E.EINVAL, `lseek whence ${whence} is not supported`);
  }
  const at = lseekFd(s.handles.get(fh, false).fd, BigInt.asIntN(64, offset), whence);
  return new BodyWriter().u64(at).finish();
};

const copyRange: Operation = (s, _h, r) => {
  const fhIn = r.u64("fh_in");
  const offIn = r.u64("off_in");
  r.u64("nodeid_out");
  const fhOut = r.u64("fh_out");
  const offOut = r.u64("off_out");
  const len = r.u64("len");
  const flags = r.u64("flags");
  if (flags !== 0n) throw new GuestFsError(E.EINVAL, "copy_file_range flags must be 0");
  const fdIn = s.handles.get(fhIn, false).fd;
  const fdOut = s.handles.get(fhOut, false).fd;
  writable(s);
  const n = len > BigInt(MAX_COPY) ? MAX_COPY : Number(len);
  const done = copyFileRange(fdIn, BigInt.asIntN(64, offIn), fdOut, BigInt.asIntN(64, offOut), n);
  return new BodyWriter().u32(done).u32(0).finish();
};

/** The open-file and directory operations, by opcode. */
export const FILE_OPS: ReadonlyArray<[number, Operation]> = [
  [OP.OPEN, open],
  [OP.CREATE, create],
  [OP.READ, read],
  [OP.WRITE, write],
  [OP.FLUSH, handleCheck(false)],
  [OP.RELEASE, release(false)],
  [OP.FSYNC, fsync(false)],
  [OP.OPENDIR, opendir],
  [OP.READDIR, readdir(false)],
  [OP.READDIRPLUS, readdir(true)],
  [OP.RELEASEDIR, release(true)],
  [OP.FSYNCDIR, fsync(true)],
  [OP.FALLOCATE, fallocate],
  [OP.LSEEK, lseek],
  [OP.COPY_FILE_RANGE, copyRange],
];
