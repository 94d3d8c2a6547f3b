/**
 * The 9p operations that move through the tree and open, create, read and
 * list files (Twalk, Tlopen, Tlcreate, Tread, Twrite, Treaddir), and the
 * rename both rename requests share.
 * @module
 */
import { E, P9Error } from "./errno.ts";
import { direntType, qidOf } from "./attrs.ts";
import { checkName, type DirEntry } from "./fids.ts";
import { safeMode } from "../virtio/guest_fs_rules.ts";
import type { Operation, Session } from "./session.ts";
import { direntSize, HEADER_SIZE, type Qid, Writer } from "./wire.ts";

/** Most names in one Twalk (the protocol's MAXWELEM). */
const MAX_WALK = 16;
const IOHDR = HEADER_SIZE + 4; // header + count[4] of Rread/Rreaddir
/** Linux open(2) flag bits the client sends in Tlopen/Tlcreate. */
const O = { ACCMODE: 3, WRONLY: 1, RDWR: 2, TRUNC: 0o1000, APPEND: 0o2000 } as const;

/** Twalk: a new fid (or the same one) at the end of up to 16 names; partial walks make none. */
export const walk: Operation = (s, r, w) => {
  const id = r.u32("fid");
  const newId = r.u32("newfid");
  const n = r.u16("nwname");
  if (n > MAX_WALK) throw new P9Error(E.EINVAL, `Walk of ${n} names exceeds ${MAX_WALK}`);
  const names = Array.from({ length: n }, () => r.str("wname"));
  const from = s.fids.get(id);
  if (newId !== id && s.fids.has(newId)) {
    throw new P9Error(E.EBADF, `fid ${newId} is in use`);
  }
  const parts = [...from.parts];
  const qids: Qid[] = [];
  for (const name of names) {
    let next: string[];
    try {
      if (name === "..") next = parts.slice(0, -1);
      else if (name === ".") next = [...parts];
      else {
        if (!s.root.lstat(parts).isDirectory) {
          throw new P9Error(E.ENOTDIR, "Walk through a non-directory");
        }
        next = [...parts, checkName(name)];
      }
      qids.push(qidOf(s.root.lstat(next)));
    } catch (e) {
      if (qids.length === 0) throw e;
      break; // a partial walk answers the qids found and makes no fid
    }
    parts.splice(0, parts.length, ...next);
  }
  w.u16(qids.length);
  for (const q of qids) w.qid(q);
  if (qids.length === n) {
    if (newId === id) {
      if (from.file || from.dirOpen) throw new P9Error(E.EBADF, "Cannot walk an open fid");
      from.parts = parts;
    } else s.fids.add(newId, { parts });
  }
  return w.finish();
};

/** Tlopen: opens a regular file or a directory (never a FIFO or device, which could block). */
export const lopen: Operation = (s, r, w) => {
  const f = s.fids.get(r.u32("fid"));
  const flags = r.u32("flags");
  if (f.file || f.dirOpen) throw new P9Error(E.EBADF, "fid is already open");
  const info = s.root.noSymlink(f.parts);
  if (info.isDirectory) {
    if ((flags & O.ACCMODE) !== 0) throw new P9Error(E.EISDIR, "Directory opened for writing");
    f.dirOpen = true;
  } else if (info.isFile) {
    const acc = flags & O.ACCMODE;
    if (s.root.readOnly && (acc !== 0 || flags & O.TRUNC)) {
      throw new P9Error(E.EROFS, "The share is read-only");
    }
    f.file = Deno.openSync(s.root.host(f.parts), {
      read: acc !== O.WRONLY,
      write: acc === O.WRONLY || acc === O.RDWR,
      truncate: (flags & O.TRUNC) !== 0 && acc !== 0,
      append: (flags & O.APPEND) !== 0,
    });
  } else {
    // Opening a FIFO or device here could block the VMM: refuse it.
    throw new P9Error(E.EOPNOTSUPP, "Only regular files and directories can be opened");
  }
  return w.qid(qidOf(info)).u32(0).finish();
};

/** Tlcreate: creates and opens a file; the fid then stands for it. */
export const lcreate: Operation = (s, r, w) => {
  const f = s.fids.get(r.u32("fid"));
  const name = checkName(r.str("name"));
  const flags = r.u32("flags");
  const mode = r.u32("mode");
  r.u32("gid");
  s.root.writable();
  if (f.file || f.dirOpen) throw new P9Error(E.EBADF, "fid is already open");
  const parts = [...f.parts, name];
  const path = s.root.host(parts);
  const acc = flags & O.ACCMODE;
  const file = Deno.openSync(path, {
    read: acc !== O.WRONLY,
    write: true,
    createNew: true,
    mode: safeMode(mode),
    append: (flags & O.APPEND) !== 0,
  });
  try {
    Deno.chmodSync(path, safeMode(mode)); // exact bits, whatever the VMM's umask
    const qid = qidOf(file.statSync());
    f.parts = parts; // the fid now stands for the new, open file
    f.file = file;
    return w.qid(qid).u32(0).finish();
  } catch (e) {
    file.close();
    throw e;
  }
};

/** Tread: up to `count` bytes at `offset`, cut to the reply room. */
export const read: Operation = (s, r, w, maxReply) => {
  const f = s.fids.get(r.u32("fid"));
  const offset = r.num("offset");
  const count = Math.min(r.u32("count"), Math.max(0, maxReply - IOHDR));
  if (f.dirOpen) throw new P9Error(E.EISDIR, "fid is a directory");
  if (!f.file) throw new P9Error(E.EBADF, "fid is not open");
  const buf = new Uint8Array(count);
  f.file.seekSync(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < count) {
    const n = f.file.readSync(buf.subarray(got));
    if (n === null || n === 0) break;
    got += n;
  }
  return w.u32(got).bytes(buf.subarray(0, got)).finish();
};

/** Twrite: writes all the data at `offset`. */
export const write: Operation = (s, r, w) => {
  const f = s.fids.get(r.u32("fid"));
  const offset = r.num("offset");
  const count = r.u32("count");
  const data = r.bytesOf(count, "data");
  if (!f.file) throw new P9Error(E.EBADF, "fid is not open for writing");
  f.file.seekSync(offset, Deno.SeekMode.Start);
  let done = 0;
  while (done < data.length) done += f.file.writeSync(data.subarray(done));
  return w.u32(done).finish();
};

/** Treaddir: the entries from `offset` that fit; the listing is taken at offset 0. */
export const readdir: Operation = (s, r, w, maxReply) => {
  const f = s.fids.get(r.u32("fid"));
  const offset = r.num("offset");
  const count = Math.min(r.u32("count"), Math.max(0, maxReply - IOHDR));
  if (!f.dirOpen) throw new P9Error(E.EBADF, "fid is not an open directory");
  if (offset === 0 || !f.entries) f.entries = list(s, f.parts);
  const body = new Writer(0, 0); // scratch: entries are measured before they are written
  let used = 0;
  let i = offset;
  for (; i < f.entries.length; i++) {
    const e = f.entries[i];
    const size = direntSize(e.name);
    if (used + size > count) break;
    body.qid(e.qid).u64(i + 1).u8(e.type).str(e.name);
    used += size;
  }
  return w.u32(used).bytes(body.finish().subarray(HEADER_SIZE)).finish();
};

function list(s: Session, parts: string[]): DirEntry[] {
  const path = s.root.host(parts);
  const self = Deno.lstatSync(path);
  const parent = parts.length ? s.root.lstat(parts.slice(0, -1)) : self;
  const out: DirEntry[] = [
    { name: ".", qid: qidOf(self), type: 4 },
    { name: "..", qid: qidOf(parent), type: 4 },
  ];
  for (const e of Deno.readDirSync(path)) {
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(`${path}/${e.name}`);
    } catch {
      continue; // removed while listing
    }
    out.push({ name: e.name, qid: qidOf(info), type: direntType(info) });
  }
  return out;
}

/** Renames `from` to `to`; fids below the old name follow it. */
export function rename(s: Session, from: string[], to: string[]): void {
  s.root.writable();
  Deno.renameSync(s.root.host(from), s.root.host(to));
  s.fids.renamed(from, to);
}
