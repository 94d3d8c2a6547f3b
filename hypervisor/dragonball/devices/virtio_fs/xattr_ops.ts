/**
 * The virtio-fs extended-attribute operations. Attributes are read from
 * regular files and directories (through the `/proc/self/fd` path of the
 * inode's O_PATH fd, as O_PATH fds take no xattr calls); other files have
 * none. A guest may set and remove only `user.` attributes: a
 * `security.capability` or `trusted.` attribute on a host file would give
 * it powers on the host, as a setuid bit would.
 * @module
 */
import {
  fdPath,
  getxattrPath,
  listxattrPath,
  removexattrPath,
  S,
  setxattrPath,
} from "../../../../ffi/fs_at.ts";
import { E, GuestFsError } from "../virtio/host_errno.ts";
import type { Inode } from "./nodes.ts";
import { MAX_XATTR, type Operation, type Session, writable } from "./session.ts";
import { BodyWriter, OP } from "./wire.ts";

/** Longest attribute name (XATTR_NAME_MAX). */
const MAX_XATTR_NAME = 255;
/** setxattr(2) flags: XATTR_CREATE, XATTR_REPLACE. */
const XATTR_FLAGS = 3;

function hasXattrs(node: Inode): boolean {
  return node.type === S.IFREG || node.type === S.IFDIR;
}

function settable(s: Session, name: string): void {
  writable(s);
  if (!name.startsWith("user.")) {
    throw new GuestFsError(E.EPERM, `extended attribute ${name} cannot be set by the guest`);
  }
}

/** The reply of a size query (`fuse_getxattr_out`) or the bytes themselves. */
function sized(asked: number, value: Uint8Array | number): Uint8Array {
  if (typeof value === "number") return new BodyWriter().u32(value).u32(0).finish();
  if (value.length > asked) throw new GuestFsError(E.ERANGE, "extended attribute does not fit");
  return value;
}

const getxattr: Operation = (s, h, r, room) => {
  const size = Math.min(r.u32("size"), MAX_XATTR, room);
  r.u32("padding");
  const name = r.cstr("xattr name", MAX_XATTR_NAME);
  const node = s.inodes.get(h.nodeid);
  if (!hasXattrs(node)) throw new GuestFsError(E.ENODATA, `no extended attribute ${name}`);
  return sized(size, getxattrPath(fdPath(node.fd), name, size));
};

const listxattr: Operation = (s, h, r, room) => {
  const size = Math.min(r.u32("size"), MAX_XATTR, room);
  r.u32("padding");
  const node = s.inodes.get(h.nodeid);
  if (!hasXattrs(node)) return sized(size, size === 0 ? 0 : new Uint8Array(0));
  return sized(size, listxattrPath(fdPath(node.fd), size));
};

const setxattr: Operation = (s, h, r) => {
  const size = r.u32("size");
  const flags = r.u32("flags");
  const name = r.cstr("xattr name", MAX_XATTR_NAME);
  if (size > MAX_XATTR) throw new GuestFsError(E.E2BIG, `extended attribute of ${size} bytes`);
  const value = r.bytes(size, "xattr value");
  const node = s.inodes.get(h.nodeid);
  settable(s, name);
  if (!hasXattrs(node)) {
    throw new GuestFsError(E.EPERM, "only files and directories take attributes");
  }
  setxattrPath(fdPath(node.fd), name, value, flags & XATTR_FLAGS);
  return new Uint8Array(0);
};

const removexattr: Operation = (s, h, r) => {
  const name = r.cstr("xattr name", MAX_XATTR_NAME);
  const node = s.inodes.get(h.nodeid);
  settable(s, name);
  if (!hasXattrs(node)) throw new GuestFsError(E.ENODATA, `no extended attribute ${name}`);
  removexattrPath(fdPath(node.fd), name);
  return new Uint8Array(0);
};

/** The extended-attribute operations, by opcode. */
export const XATTR_OPS: ReadonlyArray<[number, Operation]> = [
  [OP.GETXATTR, getxattr],
  [OP.LISTXATTR, listxattr],
  [OP.SETXATTR, setxattr],
  [OP.REMOVEXATTR, removexattr],
];
