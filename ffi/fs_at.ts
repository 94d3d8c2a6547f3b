/**
 * fd-relative file-system calls for servers that share a host directory with
 * a guest (the built-in VMM's virtio-fs): openat2 with RESOLVE_* confinement,
 * statx, the *at creation and removal calls, positioned I/O, getdents64,
 * xattrs and the rest, each on a caller-owned fd. Nothing here resolves a
 * guest path by itself: callers pass one name relative to a directory fd they
 * hold, or the `/proc/self/fd/N` path of an fd they hold ({@link fdPath}).
 * @module
 */
import { check, E, errno, SysError } from "./errno.ts";
import { cstr, lazyLibc } from "./libc.ts";

const SYS_OPENAT2 = 437; // the same on x86-64 and arm64 (the unified table)

const sym = lazyLibc({
  syscall4: {
    name: "syscall",
    parameters: ["i64", "i32", "buffer", "buffer", "usize"],
    result: "i64",
  },
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  mkdirat: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  mknodat: { parameters: ["i32", "buffer", "u32", "u64"], result: "i32" },
  symlinkat: { parameters: ["buffer", "i32", "buffer"], result: "i32" },
  linkat: { parameters: ["i32", "buffer", "i32", "buffer", "i32"], result: "i32" },
  unlinkat: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  renameat2: { parameters: ["i32", "buffer", "i32", "buffer", "u32"], result: "i32" },
  readlinkat: { parameters: ["i32", "buffer", "buffer", "usize"], result: "isize" },
  fchownat: { parameters: ["i32", "buffer", "u32", "u32", "i32"], result: "i32" },
  chmod: { parameters: ["buffer", "u32"], result: "i32" },
  truncate: { parameters: ["buffer", "i64"], result: "i32" },
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  utimensat: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  pread: { name: "pread64", parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  pwrite: { name: "pwrite64", parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  fsync: { parameters: ["i32"], result: "i32" },
  fdatasync: { parameters: ["i32"], result: "i32" },
  fallocate: { name: "fallocate64", parameters: ["i32", "i32", "i64", "i64"], result: "i32" },
  lseek: { name: "lseek64", parameters: ["i32", "i64", "i32"], result: "i64" },
  copy_file_range: {
    parameters: ["i32", "buffer", "i32", "buffer", "usize", "u32"],
    result: "isize",
  },
  fstatfs: { parameters: ["i32", "buffer"], result: "i32" },
  getdents64: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  getxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
  setxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
  listxattr: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  removexattr: { parameters: ["buffer", "buffer"], result: "i32" },
  geteuid: { parameters: [], result: "u32" },
  close: { parameters: ["i32"], result: "i32" },
});

/** open(2) flags the file servers use. */
export const OF = {
  ACCMODE: 3,
  WRONLY: 1,
  RDWR: 2,
  CREAT: 0o100,
  EXCL: 0o200,
  TRUNC: 0o1000,
  APPEND: 0o2000,
  NONBLOCK: 0o4000,
  DSYNC: 0o10000,
  DIRECTORY: 0o200000,
  NOFOLLOW: 0o400000,
  CLOEXEC: 0o2000000,
  SYNC: 0o4010000,
  PATH: 0o10000000,
} as const;

/** openat2(2) `resolve` bits. */
export const RESOLVE = {
  NO_XDEV: 1,
  NO_MAGICLINKS: 2,
  NO_SYMLINKS: 4,
  BENEATH: 8,
} as const;

/** *at(2) flag bits. */
export const AT = {
  FDCWD: -100,
  SYMLINK_NOFOLLOW: 0x100,
  REMOVEDIR: 0x200,
  SYMLINK_FOLLOW: 0x400,
  EMPTY_PATH: 0x1000,
} as const;

/** A file name: text, or the raw bytes a guest sent (not always UTF-8). */
export type Name = string | Uint8Array;

/** A NUL-terminated copy of `n` for C string parameters. */
function cname(n: Name): Uint8Array<ArrayBuffer> {
  if (typeof n === "string") return cstr(n);
  const out = new Uint8Array(n.length + 1);
  out.set(n);
  return out;
}

/** `n` for error messages. */
function shown(n: Name): string {
  return typeof n === "string" ? n : new TextDecoder().decode(n);
}

/** The `/proc/self/fd/N` path of an fd this process holds (to reopen an O_PATH fd). */
export function fdPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

/**
 * openat2(2): opens `name` relative to `dirfd` with `resolve` confinement;
 * the caller owns the fd and must {@link closeAt} it.
 */
export function openat2(
  dirfd: number,
  name: Name,
  flags: number,
  mode: number,
  resolve: number,
): number {
  return check(rawOpenat2(dirfd, name, flags, mode, resolve), "openat2", shown(name));
}

/** The openat2 system call itself: the fd, or -1 with errno set. */
function rawOpenat2(dirfd: number, name: Name, flags: number, mode: number, resolve: number) {
  const how = new Uint8Array(24);
  const v = new DataView(how.buffer);
  v.setBigUint64(0, BigInt((flags | OF.CLOEXEC) >>> 0), true);
  v.setBigUint64(8, BigInt(mode & 0o7777), true);
  v.setBigUint64(16, BigInt(resolve), true);
  return Number(sym().syscall4(BigInt(SYS_OPENAT2), dirfd, cname(name), how, 24n));
}

/**
 * {@link openat2}, except that a missing name (ENOENT) returns -1 instead
 * of throwing: a file server's lookups miss all the time (every create
 * looks its name up first), and an error object per miss is a large part
 * of such a request's cost.
 */
export function openat2OrMissing(...args: Parameters<typeof openat2>): number {
  const rc = rawOpenat2(...args);
  if (rc >= 0) return rc;
  const err = errno();
  if (err === E.NOENT) return -1;
  throw new SysError("openat2", err, shown(args[1]));
}

/** Closes an fd from this module; a failure to close is reported, never thrown. */
export function closeAt(fd: number): void {
  if (fd >= 0) sym().close(fd);
}

/** The fields of statx(2) the servers report. */
export interface Statx {
  dev: bigint;
  ino: bigint;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: bigint;
  blocks: bigint;
  blksize: number;
  atime: bigint;
  atimeNs: number;
  mtime: bigint;
  mtimeNs: number;
  ctime: bigint;
  ctimeNs: number;
}

/** File type bits of `mode`. */
export const S = {
  IFMT: 0o170000,
  IFSOCK: 0o140000,
  IFLNK: 0o120000,
  IFREG: 0o100000,
  IFBLK: 0o060000,
  IFDIR: 0o040000,
  IFCHR: 0o020000,
  IFIFO: 0o010000,
  ISUID: 0o4000,
  ISGID: 0o2000,
} as const;

/** statx(2) of `name` relative to `dirfd` (empty name: `dirfd` itself); never follows a symlink. */
export function statAt(dirfd: number, name: Name = ""): Statx {
  const b = new Uint8Array(256);
  const flags = AT.SYMLINK_NOFOLLOW | (name.length === 0 ? AT.EMPTY_PATH : 0);
  check(sym().statx(dirfd, cname(name), flags, 0x7ff, b), "statx", shown(name) || `fd ${dirfd}`);
  const v = new DataView(b.buffer);
  const dev = (BigInt(v.getUint32(136, true)) << 32n) | BigInt(v.getUint32(140, true));
  const ts = (o: number): [bigint, number] => [v.getBigInt64(o, true), v.getUint32(o + 8, true)];
  const [atime, atimeNs] = ts(64);
  const [ctime, ctimeNs] = ts(96);
  const [mtime, mtimeNs] = ts(112);
  return {
    dev,
    ino: v.getBigUint64(32, true),
    mode: v.getUint16(28, true),
    nlink: v.getUint32(16, true),
    uid: v.getUint32(20, true),
    gid: v.getUint32(24, true),
    rdev: newEncodeDev(v.getUint32(128, true), v.getUint32(132, true)),
    size: v.getBigUint64(40, true),
    blocks: v.getBigUint64(48, true),
    blksize: v.getUint32(4, true),
    atime,
    atimeNs,
    mtime,
    mtimeNs,
    ctime,
    ctimeNs,
  };
}

/** The kernel's 32-bit `new_encode_dev` of a device number (what FUSE's attr.rdev carries). */
function newEncodeDev(major: number, minor: number): number {
  return ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

/** mkdirat(2). */
export function mkdirAt(dirfd: number, name: Name, mode: number): void {
  check(sym().mkdirat(dirfd, cname(name), mode >>> 0), "mkdirat", shown(name));
}

/** mknodat(2) with device number 0 (FIFOs, sockets and regular files only). */
export function mknodAt(dirfd: number, name: Name, mode: number): void {
  check(sym().mknodat(dirfd, cname(name), mode >>> 0, 0n), "mknodat", shown(name));
}

/** symlinkat(2): `name` in `dirfd` holds `target` (never resolved here). */
export function symlinkAt(target: Name, dirfd: number, name: Name): void {
  check(sym().symlinkat(cname(target), dirfd, cname(name)), "symlinkat", shown(name));
}

/** linkat(2). */
export function linkAt(
  oldDir: number,
  oldName: Name,
  newDir: number,
  newName: Name,
  flags: number,
): void {
  check(
    sym().linkat(oldDir, cname(oldName), newDir, cname(newName), flags),
    "linkat",
    shown(newName),
  );
}

/** unlinkat(2). */
export function unlinkAt(dirfd: number, name: Name, flags: number): void {
  check(sym().unlinkat(dirfd, cname(name), flags), "unlinkat", shown(name));
}

/** renameat2(2) (flags: RENAME_NOREPLACE 1, RENAME_EXCHANGE 2, RENAME_WHITEOUT 4). */
export function renameAt2(
  oldDir: number,
  oldName: Name,
  newDir: number,
  newName: Name,
  flags: number,
): void {
  check(
    sym().renameat2(oldDir, cname(oldName), newDir, cname(newName), flags >>> 0),
    "renameat2",
    shown(oldName),
  );
}

/** readlinkat(2) of `dirfd` itself (an O_PATH fd of a symlink), as bytes. */
export function readlinkFd(dirfd: number, max = 4096): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(max);
  const n = check(sym().readlinkat(dirfd, cstr(""), b, BigInt(max)), "readlinkat", `fd ${dirfd}`);
  return b.slice(0, n);
}

/** fchownat(2) of `fd` itself (AT_EMPTY_PATH; never follows a symlink); -1 keeps an id. */
export function chownFd(fd: number, uid: number, gid: number): void {
  const flags = AT.EMPTY_PATH | AT.SYMLINK_NOFOLLOW;
  check(sym().fchownat(fd, cstr(""), uid >>> 0, gid >>> 0, flags), "fchownat", `fd ${fd}`);
}

/** chmod(2) of a path (the servers pass {@link fdPath} of a non-symlink). */
export function chmodPath(path: string, mode: number): void {
  check(sym().chmod(cstr(path), mode >>> 0), "chmod", path);
}

/** truncate(2) of a path (the servers pass {@link fdPath} of a regular file). */
export function truncatePath(path: string, size: bigint): void {
  check(sym().truncate(cstr(path), size), "truncate", path);
}

/** ftruncate(2). */
export function ftruncateFd(fd: number, size: bigint): void {
  check(sym().ftruncate(fd, size), "ftruncate", `fd ${fd}`);
}

/** Special tv_nsec values of utimensat(2). */
export const UTIME = { NOW: (1 << 30) - 1, OMIT: (1 << 30) - 2 } as const;

/** utimensat(2) of `name` in `dirfd` (flags as *at); nsec may be {@link UTIME}. */
export function utimensAt(
  dirfd: number,
  name: string,
  atime: [bigint, number],
  mtime: [bigint, number],
  flags: number,
): void {
  const t = new Uint8Array(32);
  const v = new DataView(t.buffer);
  v.setBigInt64(0, atime[0], true);
  v.setBigInt64(8, BigInt(atime[1]), true);
  v.setBigInt64(16, mtime[0], true);
  v.setBigInt64(24, BigInt(mtime[1]), true);
  check(sym().utimensat(dirfd, cname(name), t, flags), "utimensat", name || `fd ${dirfd}`);
}

/** pread(2) into `buf`; returns the bytes read (0 at end of file). */
export function preadFd(fd: number, buf: Uint8Array<ArrayBuffer>, offset: bigint): number {
  return check(sym().pread(fd, buf, BigInt(buf.length), offset), "pread", `fd ${fd}`);
}

/** pwrite(2) of `buf`; returns the bytes written. */
export function pwriteFd(fd: number, buf: Uint8Array<ArrayBuffer>, offset: bigint): number {
  return check(sym().pwrite(fd, buf, BigInt(buf.length), offset), "pwrite", `fd ${fd}`);
}

/** fsync(2), or fdatasync(2) when `dataOnly`. */
export function syncFd(fd: number, dataOnly: boolean): void {
  if (dataOnly) check(sym().fdatasync(fd), "fdatasync", `fd ${fd}`);
  else check(sym().fsync(fd), "fsync", `fd ${fd}`);
}

/** fallocate(2). */
export function fallocateFd(fd: number, mode: number, offset: bigint, length: bigint): void {
  check(sym().fallocate(fd, mode, offset, length), "fallocate", `fd ${fd}`);
}

/** lseek(2); returns the new offset. */
export function lseekFd(fd: number, offset: bigint, whence: number): bigint {
  const r = sym().lseek(fd, offset, whence);
  check(r < 0n ? -1 : 0, "lseek", `fd ${fd}`);
  return r;
}

/** copy_file_range(2) between explicit offsets; returns the bytes copied. */
export function copyFileRange(
  fdIn: number,
  offIn: bigint,
  fdOut: number,
  offOut: bigint,
  len: number,
): number {
  const a = new Uint8Array(8), b = new Uint8Array(8);
  new DataView(a.buffer).setBigInt64(0, offIn, true);
  new DataView(b.buffer).setBigInt64(0, offOut, true);
  return check(sym().copy_file_range(fdIn, a, fdOut, b, BigInt(len), 0), "copy_file_range");
}

/** What fstatfs(2) reports, in the fields FUSE's statfs reply carries. */
interface FdStatfs {
  blocks: bigint;
  bfree: bigint;
  bavail: bigint;
  files: bigint;
  ffree: bigint;
  bsize: number;
  namelen: number;
  frsize: number;
}

/** fstatfs(2) (works on O_PATH fds). */
export function fstatfsFd(fd: number): FdStatfs {
  const b = new Uint8Array(120);
  check(sym().fstatfs(fd, b), "fstatfs", `fd ${fd}`);
  const v = new DataView(b.buffer);
  const u = (i: number) => v.getBigUint64(i * 8, true);
  return {
    bsize: Number(u(1)),
    blocks: u(2),
    bfree: u(3),
    bavail: u(4),
    files: u(5),
    ffree: u(6),
    namelen: Number(u(8)),
    frsize: Number(u(9)),
  };
}

/** One entry of getdents64(2). */
interface RawDirent {
  ino: bigint;
  /** The cookie that {@link lseekFd} takes to continue after this entry. */
  off: bigint;
  type: number;
  name: Uint8Array;
}

/** getdents64(2): the entries that fit in `bufSize` bytes (none at the end). */
export function getdents(fd: number, bufSize = 32768): RawDirent[] {
  const b = new Uint8Array(bufSize);
  const n = check(sym().getdents64(fd, b, BigInt(bufSize)), "getdents64", `fd ${fd}`);
  const v = new DataView(b.buffer);
  const out: RawDirent[] = [];
  for (let o = 0; o + 19 <= n;) {
    const reclen = v.getUint16(o + 16, true);
    if (reclen < 20 || o + reclen > n) break;
    const nameEnd = b.indexOf(0, o + 19);
    const end = nameEnd < 0 || nameEnd > o + reclen ? o + reclen : nameEnd;
    out.push({
      ino: v.getBigUint64(o, true),
      off: v.getBigInt64(o + 8, true),
      type: b[o + 18],
      name: b.slice(o + 19, end),
    });
    o += reclen;
  }
  return out;
}

/** getxattr(2) of a path; `size` 0 asks for the value's length only. */
export function getxattrPath(
  path: string,
  name: string,
  size: number,
): Uint8Array<ArrayBuffer> | number {
  const b = new Uint8Array(Math.max(size, 1));
  const n = check(sym().getxattr(cstr(path), cname(name), b, BigInt(size)), "getxattr", name);
  return size === 0 ? n : b.slice(0, n);
}

/** setxattr(2) of a path. */
export function setxattrPath(
  path: string,
  name: string,
  value: Uint8Array<ArrayBuffer>,
  flags: number,
): void {
  check(
    sym().setxattr(cstr(path), cname(name), value, BigInt(value.length), flags),
    "setxattr",
    name,
  );
}

/** listxattr(2) of a path; `size` 0 asks for the list's length only. */
export function listxattrPath(path: string, size: number): Uint8Array<ArrayBuffer> | number {
  const b = new Uint8Array(Math.max(size, 1));
  const n = check(sym().listxattr(cstr(path), b, BigInt(size)), "listxattr", path);
  return size === 0 ? n : b.slice(0, n);
}

/** removexattr(2) of a path. */
export function removexattrPath(path: string, name: string): void {
  check(sym().removexattr(cstr(path), cname(name)), "removexattr", name);
}

/** The effective uid of this process. */
export function geteuid(): number {
  return sym().geteuid();
}
