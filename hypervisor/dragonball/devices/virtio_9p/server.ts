/**
 * A 9P2000.L file server for one host directory: the fid table and every
 * operation the Linux client (`trans=virtio,version=9p2000.L`) uses. It is
 * transport-free: {@link P9Server.handle} takes one request message and
 * returns one reply, so it is tested without a VM.
 *
 * Confinement: a fid is a list of names below the shared root, never a host
 * path. Walks refuse `/` in names, stop `..` at the root and never descend
 * through a symlink; before each host call the real path of the parent
 * directory is checked to lie inside the root, and calls that would follow a
 * final symlink (open, chmod, chown, truncate, utimes) refuse symlinks. The
 * guest's requests are served one at a time, so the guest cannot race its own
 * checks; changes made concurrently on the host side are trusted.
 *
 * Ownership: files are created as the VMM process's user (no uid/gid
 * mapping); the guest's chown requests are applied as asked.
 * @module
 */
import { mknod, statfs } from "../../../../ffi/fs.ts";
import { getLogger } from "../../../../common/log.ts";
import { E, errnoOf, P9Error } from "./errno.ts";
import {
  direntSize,
  HEADER_SIZE,
  lerror,
  P9,
  type Qid,
  QT,
  Reader,
  readHeader,
  WireError,
  Writer,
} from "./wire.ts";

const log = getLogger("dragonball.9p");

/** Largest message size the server agrees to. */
export const MAX_MSIZE = 512 * 1024;
/** Most names in one Twalk (the protocol's MAXWELEM). */
const MAX_WALK = 16;
const VERSION = "9P2000.L";
const IOHDR = HEADER_SIZE + 4; // header + count[4] of Rread/Rreaddir

/** Linux open(2) flag bits the client sends in Tlopen/Tlcreate. */
const O = { ACCMODE: 3, WRONLY: 1, RDWR: 2, TRUNC: 0o1000, APPEND: 0o2000 } as const;
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
const AT_REMOVEDIR = 0x200;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const S_IFREG = 0o100000;

interface DirEntry {
  name: string;
  qid: Qid;
  type: number;
}

/** One fid: a place below the root, maybe opened. */
interface Fid {
  parts: string[];
  file?: Deno.FsFile;
  /** Set once Tlopen succeeded on a directory. */
  dirOpen?: boolean;
  /** Directory listing taken at the first Treaddir at offset 0. */
  entries?: DirEntry[];
}

/** Options of {@link P9Server}. */
export interface P9ServerOptions {
  /** Refuse every request that changes the tree. */
  readOnly?: boolean;
}

/** A 9P2000.L server rooted at a host directory. */
export class P9Server {
  readonly root: string;
  readonly #realRoot: string;
  readonly #readOnly: boolean;
  readonly #fids = new Map<number, Fid>();
  #msize = 8192;

  /** Serves `root`, which must be an existing directory. */
  constructor(root: string, opts: P9ServerOptions = {}) {
    this.#realRoot = Deno.realPathSync(root);
    if (!Deno.statSync(this.#realRoot).isDirectory) {
      throw new Error(`9p share root ${root} is not a directory`);
    }
    this.root = root;
    this.#readOnly = opts.readOnly ?? false;
  }

  /** The negotiated message size. */
  get msize(): number {
    return this.#msize;
  }

  /** Number of fids in use (tests, diagnostics). */
  get fidCount(): number {
    return this.#fids.size;
  }

  /** Forgets every fid and closes its file (device reset, new session). */
  reset(): void {
    for (const f of this.#fids.values()) closeFid(f);
    this.#fids.clear();
  }

  /**
   * Serves one request; the reply is at most `maxReply` bytes (the room the
   * driver gave for it). A malformed request gets an error reply.
   */
  handle(request: Uint8Array, maxReply = MAX_MSIZE): Uint8Array {
    let tag = 0;
    try {
      const r = new Reader(request);
      const h = readHeader(r);
      tag = h.tag;
      const body = new Reader(request.subarray(HEADER_SIZE, h.size));
      return this.#dispatch(h.type, tag, body, Math.min(maxReply, this.#msize));
    } catch (e) {
      // Failures are routine (a walk to a missing name): debug level only.
      const errno = e instanceof WireError ? E.EPROTO : errnoOf(e);
      log.debug("9p request type {type} failed with errno {errno}: {error}", {
        type: request[4],
        errno,
        error: String(e),
      });
      return lerror(tag, errno);
    }
  }

  #dispatch(type: number, tag: number, r: Reader, maxReply: number): Uint8Array {
    const reply = () => new Writer(type + 1, tag);
    switch (type) {
      case P9.Tversion: {
        const msize = r.u32("msize");
        const version = r.str("version");
        this.reset();
        if (msize < 4096) throw new P9Error(E.EINVAL, `msize ${msize} is too small`);
        this.#msize = Math.min(msize, MAX_MSIZE);
        const ok = version === VERSION || version.startsWith(`${VERSION}.`);
        return reply().u32(this.#msize).str(ok ? VERSION : "unknown").finish();
      }
      case P9.Tattach: {
        const fid = r.u32("fid");
        r.u32("afid");
        r.str("uname");
        r.str("aname");
        this.#newFid(fid, { parts: [] });
        return reply().qid(qidOf(this.#lstat([]))).finish();
      }
      case P9.Tauth:
        throw new P9Error(E.EOPNOTSUPP, "authentication is not supported");
      case P9.Tflush:
        r.u16("oldtag"); // requests are answered in order: nothing is ever pending
        return reply().finish();
      case P9.Twalk:
        return this.#walk(r, reply());
      case P9.Tgetattr: {
        const f = this.#fid(r.u32("fid"));
        r.u64("request_mask");
        // An open file answers through its handle: it may be unlinked already.
        return writeAttr(reply(), f.file ? f.file.statSync() : this.#lstat(f.parts)).finish();
      }
      case P9.Tsetattr:
        this.#setattr(r);
        return reply().finish();
      case P9.Tlopen:
        return this.#lopen(r, reply());
      case P9.Tlcreate:
        return this.#lcreate(r, reply());
      case P9.Tread:
        return this.#read(r, reply(), maxReply);
      case P9.Twrite: {
        const f = this.#fid(r.u32("fid"));
        const offset = r.num("offset");
        const count = r.u32("count");
        const data = r.bytesOf(count, "data");
        if (!f.file) throw new P9Error(E.EBADF, "fid is not open for writing");
        f.file.seekSync(offset, Deno.SeekMode.Start);
        let done = 0;
        while (done < data.length) done += f.file.writeSync(data.subarray(done));
        return reply().u32(done).finish();
      }
      case P9.Treaddir:
        return this.#readdir(r, reply(), maxReply);
      case P9.Tclunk: {
        const id = r.u32("fid");
        closeFid(this.#fid(id));
        this.#fids.delete(id);
        return reply().finish();
      }
      case P9.Tremove: {
        const id = r.u32("fid");
        const f = this.#fid(id);
        closeFid(f);
        this.#fids.delete(id); // clunked whether or not the removal works
        this.#writable();
        if (f.parts.length === 0) throw new P9Error(E.EBUSY, "cannot remove the share root");
        Deno.removeSync(this.#host(f.parts));
        return reply().finish();
      }
      case P9.Tstatfs: {
        this.#fid(r.u32("fid"));
        const s = statfs(this.#realRoot);
        return reply().u32(s.type).u32(s.blockSize).u64(s.blocks).u64(s.blocksFree)
          .u64(s.blocksAvailable).u64(s.files).u64(s.filesFree).u64(s.fsid).u32(s.nameMax)
          .finish();
      }
      case P9.Tmkdir: {
        const dir = this.#fid(r.u32("dfid"));
        const name = checkName(r.str("name"));
        const mode = r.u32("mode");
        r.u32("gid");
        this.#writable();
        const parts = [...dir.parts, name];
        const path = this.#host(parts);
        Deno.mkdirSync(path, { mode: mode & 0o7777 });
        Deno.chmodSync(path, mode & 0o7777); // exact bits, whatever the VMM's umask
        return reply().qid(qidOf(this.#lstat(parts))).finish();
      }
      case P9.Tsymlink: {
        const dir = this.#fid(r.u32("fid"));
        const name = checkName(r.str("name"));
        const target = r.str("symtgt");
        r.u32("gid");
        this.#writable();
        const parts = [...dir.parts, name];
        Deno.symlinkSync(target, this.#host(parts)); // the guest resolves it, never the server
        return reply().qid(qidOf(this.#lstat(parts))).finish();
      }
      case P9.Treadlink: {
        const f = this.#fid(r.u32("fid"));
        return reply().str(Deno.readLinkSync(this.#host(f.parts))).finish();
      }
      case P9.Tmknod: {
        const dir = this.#fid(r.u32("dfid"));
        const name = checkName(r.str("name"));
        const mode = r.u32("mode");
        const major = r.u32("major");
        const minor = r.u32("minor");
        r.u32("gid");
        this.#writable();
        const parts = [...dir.parts, name];
        mknod(this.#host(parts), mode, major, minor);
        return reply().qid(qidOf(this.#lstat(parts))).finish();
      }
      case P9.Tunlinkat: {
        const dir = this.#fid(r.u32("dirfd"));
        const name = checkName(r.str("name"));
        const flags = r.u32("flags");
        this.#writable();
        const parts = [...dir.parts, name];
        const info = this.#lstat(parts);
        if (flags & AT_REMOVEDIR) {
          if (!info.isDirectory) throw new P9Error(E.ENOTDIR, `${name} is not a directory`);
        } else if (info.isDirectory) {
          throw new P9Error(E.EISDIR, `${name} is a directory`);
        }
        Deno.removeSync(this.#host(parts));
        return reply().finish();
      }
      case P9.Trenameat: {
        const oldDir = this.#fid(r.u32("olddirfid"));
        const oldName = checkName(r.str("oldname"));
        const newDir = this.#fid(r.u32("newdirfid"));
        const newName = checkName(r.str("newname"));
        this.#rename([...oldDir.parts, oldName], [...newDir.parts, newName]);
        return reply().finish();
      }
      case P9.Trename: {
        const f = this.#fid(r.u32("fid"));
        const dir = this.#fid(r.u32("dfid"));
        const name = checkName(r.str("name"));
        if (f.parts.length === 0) throw new P9Error(E.EBUSY, "cannot rename the share root");
        this.#rename(f.parts, [...dir.parts, name]);
        return reply().finish();
      }
      case P9.Tlink: {
        const dir = this.#fid(r.u32("dfid"));
        const target = this.#fid(r.u32("fid"));
        const name = checkName(r.str("name"));
        this.#writable();
        if (this.#lstat(target.parts).isDirectory) {
          throw new P9Error(E.EPERM, "cannot hard-link a directory");
        }
        Deno.linkSync(this.#host(target.parts), this.#host([...dir.parts, name]));
        return reply().finish();
      }
      case P9.Tfsync: {
        const f = this.#fid(r.u32("fid"));
        f.file?.syncSync();
        return reply().finish();
      }
      case P9.Tlock: {
        // Locks are kept by the guest kernel; one guest is the only client, so
        // the server grants every request, as QEMU's 9p server does.
        this.#fid(r.u32("fid"));
        return reply().u8(0).finish();
      }
      case P9.Tgetlock: {
        this.#fid(r.u32("fid"));
        r.u8("type");
        const start = r.u64("start");
        const length = r.u64("length");
        const procId = r.u32("proc_id");
        const clientId = r.str("client_id");
        return reply().u8(2 /* F_UNLCK */).u64(start).u64(length).u32(procId).str(clientId)
          .finish();
      }
      case P9.Txattrwalk: {
        this.#fid(r.u32("fid"));
        r.u32("newfid");
        const name = r.str("name");
        // Extended attributes are not shared: no attribute exists, none can be listed.
        throw name
          ? new P9Error(E.ENODATA, `no extended attribute ${name}`)
          : new P9Error(E.EOPNOTSUPP, "extended attributes are not supported");
      }
      case P9.Txattrcreate:
        throw new P9Error(E.EOPNOTSUPP, "extended attributes are not supported");
      default:
        throw new P9Error(E.EOPNOTSUPP, `9P message type ${type} is not supported`);
    }
  }

  #fid(id: number): Fid {
    const f = this.#fids.get(id);
    if (!f) throw new P9Error(E.EBADF, `unknown fid ${id}`);
    return f;
  }

  #newFid(id: number, f: Fid): void {
    if (this.#fids.has(id)) throw new P9Error(E.EBADF, `fid ${id} is in use`);
    this.#fids.set(id, f);
  }

  #writable(): void {
    if (this.#readOnly) throw new P9Error(E.EROFS, "the share is read-only");
  }

  /**
   * The host path of `parts`, after checking that its parent directory
   * really lies inside the root (a directory replaced by a symlink since
   * the walk must not lead out).
   */
  #host(parts: string[]): string {
    if (parts.length === 0) return this.#realRoot;
    const parent = Deno.realPathSync([this.#realRoot, ...parts.slice(0, -1)].join("/"));
    if (parent !== this.#realRoot && !parent.startsWith(`${this.#realRoot}/`)) {
      throw new P9Error(E.EACCES, "path leaves the shared directory");
    }
    return `${parent}/${parts[parts.length - 1]}`;
  }

  #lstat(parts: string[]): Deno.FileInfo {
    return Deno.lstatSync(this.#host(parts));
  }

  /** lstat that refuses symlinks, for calls that would follow them. */
  #noSymlink(parts: string[]): Deno.FileInfo {
    const info = this.#lstat(parts);
    if (info.isSymlink) throw new P9Error(E.ELOOP, "the server does not follow symlinks");
    return info;
  }

  #walk(r: Reader, w: Writer): Uint8Array {
    const id = r.u32("fid");
    const newId = r.u32("newfid");
    const n = r.u16("nwname");
    if (n > MAX_WALK) throw new P9Error(E.EINVAL, `walk of ${n} names exceeds ${MAX_WALK}`);
    const names = Array.from({ length: n }, () => r.str("wname"));
    const from = this.#fid(id);
    if (newId !== id && this.#fids.has(newId)) {
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
          if (!this.#lstat(parts).isDirectory) {
            throw new P9Error(E.ENOTDIR, "walk through a non-directory");
          }
          next = [...parts, checkName(name)];
        }
        qids.push(qidOf(this.#lstat(next)));
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
        if (from.file || from.dirOpen) throw new P9Error(E.EBADF, "cannot walk an open fid");
        from.parts = parts;
      } else this.#fids.set(newId, { parts });
    }
    return w.finish();
  }

  #setattr(r: Reader): void {
    const f = this.#fid(r.u32("fid"));
    const valid = r.u32("valid");
    const mode = r.u32("mode");
    const uid = r.u32("uid");
    const gid = r.u32("gid");
    const size = r.num("size");
    const atime = r.num("atime_sec") * 1000 + Math.floor(r.num("atime_nsec") / 1e6);
    const mtime = r.num("mtime_sec") * 1000 + Math.floor(r.num("mtime_nsec") / 1e6);
    // CTIME alone (0x40) changes nothing the host does not update itself.
    if (!(valid & 0x1bf)) return;
    this.#writable();
    this.#noSymlink(f.parts);
    const path = this.#host(f.parts);
    if (valid & SETATTR.MODE) Deno.chmodSync(path, mode & 0o7777);
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

  #lopen(r: Reader, w: Writer): Uint8Array {
    const f = this.#fid(r.u32("fid"));
    const flags = r.u32("flags");
    if (f.file || f.dirOpen) throw new P9Error(E.EBADF, "fid is already open");
    const info = this.#noSymlink(f.parts);
    if (info.isDirectory) {
      if ((flags & O.ACCMODE) !== 0) throw new P9Error(E.EISDIR, "directory opened for writing");
      f.dirOpen = true;
    } else if (info.isFile) {
      const acc = flags & O.ACCMODE;
      if (this.#readOnly && (acc !== 0 || flags & O.TRUNC)) {
        throw new P9Error(E.EROFS, "the share is read-only");
      }
      f.file = Deno.openSync(this.#host(f.parts), {
        read: acc !== O.WRONLY,
        write: acc === O.WRONLY || acc === O.RDWR,
        truncate: (flags & O.TRUNC) !== 0 && acc !== 0,
        append: (flags & O.APPEND) !== 0,
      });
    } else {
      // Opening a FIFO or device here could block the VMM: refuse it.
      throw new P9Error(E.EOPNOTSUPP, "only regular files and directories can be opened");
    }
    return w.qid(qidOf(info)).u32(0).finish();
  }

  #lcreate(r: Reader, w: Writer): Uint8Array {
    const f = this.#fid(r.u32("fid"));
    const name = checkName(r.str("name"));
    const flags = r.u32("flags");
    const mode = r.u32("mode");
    r.u32("gid");
    this.#writable();
    if (f.file || f.dirOpen) throw new P9Error(E.EBADF, "fid is already open");
    const parts = [...f.parts, name];
    const path = this.#host(parts);
    const acc = flags & O.ACCMODE;
    const file = Deno.openSync(path, {
      read: acc !== O.WRONLY,
      write: true,
      createNew: true,
      mode: mode & 0o7777,
      append: (flags & O.APPEND) !== 0,
    });
    try {
      Deno.chmodSync(path, mode & 0o7777); // exact bits, whatever the VMM's umask
      const qid = qidOf(file.statSync());
      f.parts = parts; // the fid now stands for the new, open file
      f.file = file;
      return w.qid(qid).u32(0).finish();
    } catch (e) {
      file.close();
      throw e;
    }
  }

  #read(r: Reader, w: Writer, maxReply: number): Uint8Array {
    const f = this.#fid(r.u32("fid"));
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
  }

  #readdir(r: Reader, w: Writer, maxReply: number): Uint8Array {
    const f = this.#fid(r.u32("fid"));
    const offset = r.num("offset");
    const count = Math.min(r.u32("count"), Math.max(0, maxReply - IOHDR));
    if (!f.dirOpen) throw new P9Error(E.EBADF, "fid is not an open directory");
    if (offset === 0 || !f.entries) f.entries = this.#list(f.parts);
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
  }

  #list(parts: string[]): DirEntry[] {
    const path = this.#host(parts);
    const self = Deno.lstatSync(path);
    const parent = parts.length ? this.#lstat(parts.slice(0, -1)) : self;
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

  #rename(from: string[], to: string[]): void {
    this.#writable();
    Deno.renameSync(this.#host(from), this.#host(to));
    // Fids below the old name follow it, as the client expects.
    for (const f of this.#fids.values()) {
      if (f.parts.length >= from.length && from.every((p, i) => f.parts[i] === p)) {
        f.parts = [...to, ...f.parts.slice(from.length)];
      }
    }
  }
}

function closeFid(f: Fid): void {
  try {
    f.file?.close();
  } catch {
    // already closed
  }
  f.file = undefined;
  f.dirOpen = false;
  f.entries = undefined;
}

/** Refuses names that are not one plain path component. */
function checkName(name: string): string {
  if (!name || name === "." || name === ".." || name.includes("/") || name.includes("\0")) {
    throw new P9Error(E.EINVAL, `${JSON.stringify(name)} is not a file name`);
  }
  if (new TextEncoder().encode(name).length > 255) {
    throw new P9Error(E.ENAMETOOLONG, "file name is longer than 255 bytes");
  }
  return name;
}

function modeOf(info: Deno.FileInfo): number {
  if (info.mode !== null && info.mode !== undefined && (info.mode & S_IFMT) !== 0) {
    return info.mode;
  }
  const type = info.isDirectory ? S_IFDIR : info.isSymlink ? S_IFLNK : S_IFREG;
  return type | ((info.mode ?? 0) & 0o7777);
}

/** The qid of a host file: its inode number and kind. */
export function qidOf(info: Deno.FileInfo): Qid {
  const type = info.isDirectory ? QT.DIR : info.isSymlink ? QT.SYMLINK : QT.FILE;
  return { type, version: 0, path: BigInt(info.ino ?? 0) };
}

function direntType(info: Deno.FileInfo): number {
  if (info.isDirectory) return 4;
  if (info.isSymlink) return 10;
  if (info.isFile) return 8;
  if (info.isFifo) return 1;
  if (info.isSocket) return 12;
  if (info.isCharDevice) return 2;
  if (info.isBlockDevice) return 6;
  return 0;
}

function writeAttr(w: Writer, info: Deno.FileInfo): Writer {
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
