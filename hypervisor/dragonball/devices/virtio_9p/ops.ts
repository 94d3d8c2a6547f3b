/**
 * Every 9P2000.L operation the server answers, as a table from request type
 * to {@link Operation}; a type not in it is EOPNOTSUPP. Tree and file
 * operations are in file_ops.ts, attributes in attrs.ts.
 * @module
 */
import { mknod, statfs } from "../../../../ffi/fs.ts";
import { E, P9Error } from "./errno.ts";
import { applySetattr, qidOf, writeAttr } from "./attrs.ts";
import { checkName } from "./fids.ts";
import { checkNodeType, safeMode } from "../virtio/guest_fs_rules.ts";
import { lcreate, lopen, read, readdir, rename, walk, write } from "./file_ops.ts";
import { MAX_MSIZE, type Operation } from "./session.ts";
import { P9 } from "./wire.ts";

const VERSION = "9P2000.L";
const AT_REMOVEDIR = 0x200;

/** The operations, by request type. */
export const OPERATIONS: ReadonlyMap<number, Operation> = new Map<number, Operation>([
  [P9.Tversion, (s, r, w) => {
    const msize = r.u32("msize");
    const version = r.str("version");
    s.fids.clear();
    if (msize < 4096) throw new P9Error(E.EINVAL, `msize ${msize} is too small`);
    s.msize = Math.min(msize, MAX_MSIZE);
    const ok = version === VERSION || version.startsWith(`${VERSION}.`);
    return w.u32(s.msize).str(ok ? VERSION : "unknown").finish();
  }],
  [P9.Tattach, (s, r, w) => {
    const fid = r.u32("fid");
    r.u32("afid");
    r.str("uname");
    r.str("aname");
    s.fids.add(fid, { parts: [] });
    return w.qid(qidOf(s.root.lstat([]))).finish();
  }],
  [P9.Tauth, () => {
    throw new P9Error(E.EOPNOTSUPP, "Authentication is not supported");
  }],
  [P9.Tflush, (_s, r, w) => {
    r.u16("oldtag"); // requests are answered in order: nothing is ever pending
    return w.finish();
  }],
  [P9.Twalk, walk],
  [P9.Tgetattr, (s, r, w) => {
    const f = s.fids.get(r.u32("fid"));
    r.u64("request_mask");
    // An open file answers through its handle: it may be unlinked already.
    return writeAttr(w, f.file ? f.file.statSync() : s.root.lstat(f.parts)).finish();
  }],
  [P9.Tsetattr, (s, r, w) => {
    applySetattr(s.root, s.fids.get(r.u32("fid")), r);
    return w.finish();
  }],
  [P9.Tlopen, lopen],
  [P9.Tlcreate, lcreate],
  [P9.Tread, read],
  [P9.Twrite, write],
  [P9.Treaddir, readdir],
  [P9.Tclunk, (s, r, w) => {
    s.fids.clunk(r.u32("fid"));
    return w.finish();
  }],
  [P9.Tremove, (s, r, w) => {
    const f = s.fids.clunk(r.u32("fid")); // clunked whether or not the removal works
    s.root.writable();
    if (f.parts.length === 0) throw new P9Error(E.EBUSY, "Cannot remove the share root");
    Deno.removeSync(s.root.host(f.parts));
    return w.finish();
  }],
  [P9.Tstatfs, (s, r, w) => {
    s.fids.get(r.u32("fid"));
    const st = statfs(s.root.real);
    return w.u32(st.type).u32(st.blockSize).u64(st.blocks).u64(st.blocksFree)
      .u64(st.blocksAvailable).u64(st.files).u64(st.filesFree).u64(st.fsid).u32(st.nameMax)
      .finish();
  }],
  [P9.Tmkdir, (s, r, w) => {
    const dir = s.fids.get(r.u32("dfid"));
    const name = checkName(r.str("name"));
    const mode = r.u32("mode");
    r.u32("gid");
    s.root.writable();
    const parts = [...dir.parts, name];
    const path = s.root.host(parts);
    Deno.mkdirSync(path, { mode: safeMode(mode) });
    Deno.chmodSync(path, safeMode(mode)); // exact bits, whatever the VMM's umask
    return w.qid(qidOf(s.root.lstat(parts))).finish();
  }],
  [P9.Tsymlink, (s, r, w) => {
    const dir = s.fids.get(r.u32("fid"));
    const name = checkName(r.str("name"));
    const target = r.str("symtgt");
    r.u32("gid");
    s.root.writable();
    const parts = [...dir.parts, name];
    Deno.symlinkSync(target, s.root.host(parts)); // the guest resolves it, never the server
    return w.qid(qidOf(s.root.lstat(parts))).finish();
  }],
  [P9.Treadlink, (s, r, w) => {
    const f = s.fids.get(r.u32("fid"));
    return w.str(Deno.readLinkSync(s.root.host(f.parts))).finish();
  }],
  [P9.Tmknod, (s, r, w) => {
    const dir = s.fids.get(r.u32("dfid"));
    const name = checkName(r.str("name"));
    const mode = r.u32("mode");
    const major = r.u32("major");
    const minor = r.u32("minor");
    r.u32("gid");
    s.root.writable();
    checkNodeType(mode);
    const parts = [...dir.parts, name];
    mknod(s.root.host(parts), (mode & 0o170000) | safeMode(mode), major, minor);
    return w.qid(qidOf(s.root.lstat(parts))).finish();
  }],
  [P9.Tunlinkat, (s, r, w) => {
    const dir = s.fids.get(r.u32("dirfd"));
    const name = checkName(r.str("name"));
    const flags = r.u32("flags");
    s.root.writable();
    const parts = [...dir.parts, name];
    const info = s.root.lstat(parts);
    if (flags & AT_REMOVEDIR) {
      if (!info.isDirectory) throw new P9Error(E.ENOTDIR, `${name} is not a directory`);
    } else if (info.isDirectory) {
      throw new P9Error(E.EISDIR, `${name} is a directory`);
    }
    Deno.removeSync(s.root.host(parts));
    return w.finish();
  }],
  [P9.Trenameat, (s, r, w) => {
    const oldDir = s.fids.get(r.u32("olddirfid"));
    const oldName = checkName(r.str("oldname"));
    const newDir = s.fids.get(r.u32("newdirfid"));
    const newName = checkName(r.str("newname"));
    rename(s, [...oldDir.parts, oldName], [...newDir.parts, newName]);
    return w.finish();
  }],
  [P9.Trename, (s, r, w) => {
    const f = s.fids.get(r.u32("fid"));
    const dir = s.fids.get(r.u32("dfid"));
    const name = checkName(r.str("name"));
    if (f.parts.length === 0) throw new P9Error(E.EBUSY, "Cannot rename the share root");
    rename(s, f.parts, [...dir.parts, name]);
    return w.finish();
  }],
  [P9.Tlink, (s, r, w) => {
    const dir = s.fids.get(r.u32("dfid"));
    const target = s.fids.get(r.u32("fid"));
    const name = checkName(r.str("name"));
    s.root.writable();
    if (s.root.lstat(target.parts).isDirectory) {
      throw new P9Error(E.EPERM, "Cannot hard-link a directory");
    }
    Deno.linkSync(s.root.host(target.parts), s.root.host([...dir.parts, name]));
    return w.finish();
  }],
  [P9.Tfsync, (s, r, w) => {
    s.fids.get(r.u32("fid")).file?.syncSync();
    return w.finish();
  }],
  [P9.Tlock, (s, r, w) => {
    // Locks are kept by the guest kernel; one guest is the only client, so
    // the server grants every request, as QEMU's 9p server does.
    s.fids.get(r.u32("fid"));
    return w.u8(0).finish();
  }],
  [P9.Tgetlock, (s, r, w) => {
    s.fids.get(r.u32("fid"));
    r.u8("type");
    const start = r.u64("start");
    const length = r.u64("length");
    const procId = r.u32("proc_id");
    const clientId = r.str("client_id");
    return w.u8(2 /* F_UNLCK */).u64(start).u64(length).u32(procId).str(clientId).finish();
  }],
  [P9.Txattrwalk, (s, r) => {
    s.fids.get(r.u32("fid"));
    r.u32("newfid");
    const name = r.str("name");
    // Extended attributes are not shared: no attribute exists, none can be listed.
    throw name
      ? new P9Error(E.ENODATA, `No extended attribute ${name}`)
      : new P9Error(E.EOPNOTSUPP, "Extended attributes are not supported");
  }],
  [P9.Txattrcreate, () => {
    throw new P9Error(E.EOPNOTSUPP, "Extended attributes are not supported");
  }],
]);
