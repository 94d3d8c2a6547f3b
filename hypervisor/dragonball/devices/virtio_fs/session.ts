/**
 * What a virtio-fs operation works on (the shared root, the inode and handle
 * tables, the negotiated limits and the cache time-outs), the shape of an
 * operation, and the confined lookup every operation that names a file
 * goes through.
 * @module
 */
import {
  chmodPath,
  chownFd,
  closeAt,
  fdPath,
  type Name,
  OF,
  openat2OrMissing,
  RESOLVE,
  S,
  statAt,
  type Statx,
} from "../../../../ffi/fs_at.ts";
import { E, GuestFsError } from "../virtio/host_errno.ts";
import { checkName, MAX_NAME } from "../virtio/guest_fs_rules.ts";
import type { HandleTable, Inode, InodeTable } from "./nodes.ts";
import { ATTR_SUBMOUNT, type BodyReader, BodyWriter, type InHeader } from "./wire.ts";
import { type Timeout, writeEntry } from "./wire.ts";

/** Largest write (and read) the server agrees to: 1 MiB, 256 pages. */
export const MAX_WRITE = 1 << 20;
/** Largest request the device reads from a chain: a full write plus its header and room for names. */
export const MAX_REQUEST = MAX_WRITE + 8192;
/** Largest extended attribute value or list (XATTR_SIZE_MAX). */
export const MAX_XATTR = 65536;
/** Longest symlink target (PATH_MAX less the NUL). */
export const MAX_TARGET = 4095;

/**
 * Confinement of every guest-named lookup: one name below a directory fd
 * the server holds, never through a symlink or a magic link, never above
 * the directory (mount points below the share are crossed: container
 * rootfs and volumes are mounts there).
 */
export const BENEATH = RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS;

/** One guest's session with the server. */
export interface Session {
  /** Host path of the shared directory (messages only). */
  readonly rootPath: string;
  readonly inodes: InodeTable;
  readonly handles: HandleTable;
  readonly readOnly: boolean;
  /** The server runs as root: new files get the requesting guest user's ids. */
  readonly asRoot: boolean;
  /** Entry and attribute time-outs from `virtio_fs_cache`. */
  readonly entryTimeout: Timeout;
  readonly attrTimeout: Timeout;
  /** FOPEN_* flags every open answers with (direct I/O, keep cache). */
  readonly openFlags: number;
  /** Whether FUSE_INIT succeeded (other requests wait for it). */
  initialized: boolean;
  /**
   * Where FUSE_READ puts its data, at OUT_HEADER, so the reply is built
   * around it in place; reused by every read (one request at a time).
   */
  readonly readBuffer: Uint8Array<ArrayBuffer>;
}

/**
 * Serves one request: reads its body from `r` and returns the reply body,
 * or null for requests that get no reply (forget); `room` is the most bytes
 * the reply body may take. Failures throw (GuestFsError, SysError).
 */
export type Operation = (
  s: Session,
  h: InHeader,
  r: BodyReader,
  room: number,
) => Uint8Array | null;

/** Refuses a change to a read-only share. */
export function writable(s: Session): void {
  if (s.readOnly) throw new GuestFsError(E.EROFS, "the share is read-only");
}

/** The inode of the request's node id, which must be a directory. */
export function dirNode(s: Session, h: InHeader): Inode {
  const n = s.inodes.get(h.nodeid);
  if (n.type !== S.IFDIR) throw new GuestFsError(E.ENOTDIR, `node ${h.nodeid} is not a directory`);
  return n;
}

/** O_PATH fd of `name` in directory `dir`, confined; the caller owns it. */
function openChild(dir: Inode, name: Name): number {
  const fd = openat2OrMissing(dir.fd, name, OF.PATH | OF.NOFOLLOW, 0, BENEATH);
  if (fd < 0) throw missingName(dir);
  return fd;
}

/**
 * The ENOENT of a lookup that found nothing, built without a stack trace:
 * the guest looks up every name it creates first, and capturing a stack
 * for each miss cost more than the lookup itself (the reply is all that
 * is kept of it).
 */
function missingName(dir: Inode): GuestFsError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new GuestFsError(E.ENOENT, `No such name in directory node ${dir.id}`);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Holds one more lookup of `name` in `dir` and returns its inode and attributes. */
function lookupChild(s: Session, dir: Inode, name: Name): [Inode, Statx] {
  const fd = openChild(dir, name);
  let st: Statx;
  try {
    st = statAt(fd);
  } catch (e) {
    closeAt(fd);
    throw e;
  }
  return [s.inodes.hold(fd, st), st];
}

/**
 * `fuse_entry_out` of a held inode found in `parent`. A directory on another
 * host file system than its parent (a container rootfs or volume mounted in
 * the share) is announced as a submount, so the guest gives it its own
 * st_dev and inode numbers of different host file systems never meet.
 */
function entryBody(s: Session, node: Inode, st: Statx, parent: Inode): Uint8Array {
  const submount = node.type === S.IFDIR && st.dev !== parent.dev ? ATTR_SUBMOUNT : 0;
  return writeEntry(new BodyWriter(), node.id, 0n, s.entryTimeout, s.attrTimeout, st, submount)
    .finish();
}

/** Looks up `name` in `dir` (one more lookup held) and returns its `fuse_entry_out`. */
export function entryOf(s: Session, dir: Inode, name: Name): Uint8Array {
  const [node, st] = lookupChild(s, dir, name);
  return entryBody(s, node, st, dir);
}

/**
 * After a create: gives `name` in `dir` to the requesting guest user (when
 * the server can), sets its exact permission bits when given (the guest
 * applied its umask; the VMM's must not apply again), looks it up and
 * returns its entry.
 */
export function created(
  s: Session,
  h: InHeader,
  dir: Inode,
  name: Name,
  exactMode?: number,
): Uint8Array {
  const [node] = lookupChild(s, dir, name);
  try {
    if (s.asRoot) chownFd(node.fd, h.uid, h.gid);
    if (exactMode !== undefined) chmodPath(fdPath(node.fd), exactMode);
    return entryBody(s, node, statAt(node.fd), dir);
  } catch (e) {
    s.inodes.forget(node.id, 1n);
    throw e;
  }
}

/** Reads a file name that must be one plain component. */
export function readName(r: BodyReader, what = "name"): Uint8Array<ArrayBuffer> {
  return checkName(readBytes(r, what, MAX_NAME));
}

function nameLength(r: BodyReader, what: string): number {
  const rest = r.buf.subarray(r.buf.length - r.remaining);
  const end = rest.indexOf(0);
  if (end < 0) throw new GuestFsError(E.EINVAL, `FUSE ${what} is not NUL-terminated`);
  return end;
}

/** Reads a NUL-terminated byte string (without the NUL) of at most `max` bytes. */
export function readBytes(r: BodyReader, what: string, max: number): Uint8Array<ArrayBuffer> {
  const n = nameLength(r, what);
  if (n > max) throw new GuestFsError(E.ENAMETOOLONG, `FUSE ${what} is longer than ${max} bytes`);
  const b = r.bytes(n, what);
  r.skip(1, what);
  return b;
}
