/**
 * The rules both file servers of the built-in VMM (virtio-9p, virtio-fs)
 * apply to what a guest asks to create: names are one plain path component,
 * no device node is made on the host, and no file or directory gets the
 * setuid or setgid bit (a guest could otherwise leave a privileged program
 * or a door to a host disk in a directory the host later uses).
 * @module
 */
import { E, GuestFsError } from "./host_errno.ts";

/** Longest file name (NAME_MAX). */
export const MAX_NAME = 255;

const IFMT = 0o170000;
const ALLOWED_NODES = new Set([0, 0o100000, 0o010000, 0o140000]); // regular (0 too), FIFO, socket
const DEVICE_NODES = new Set([0o020000, 0o060000]); // character, block

/** Refuses names that are not one plain path component; returns the name. */
export function checkName<T extends string | Uint8Array>(name: T): T {
  const b: Uint8Array = typeof name === "string" ? new TextEncoder().encode(name) : name;
  const dots = b.length <= 2 && b.every((c) => c === 0x2e);
  if (b.length === 0 || dots || b.includes(0x2f) || b.includes(0)) {
    const shown = typeof name === "string" ? name : new TextDecoder().decode(name);
    throw new GuestFsError(E.EINVAL, `${JSON.stringify(shown)} is not a file name`);
  }
  if (b.length > MAX_NAME) {
    throw new GuestFsError(E.ENAMETOOLONG, `file name is longer than ${MAX_NAME} bytes`);
  }
  return name;
}

/** The permission bits a new file or a mode change may carry: setuid and setgid removed. */
export function safeMode(mode: number): number {
  return mode & 0o1777;
}

/** Refuses a node type a guest may not create (devices and anything unknown). */
export function checkNodeType(mode: number): void {
  const type = mode & IFMT;
  if (DEVICE_NODES.has(type)) {
    throw new GuestFsError(E.EPERM, "device nodes cannot be created in a shared directory");
  }
  if (!ALLOWED_NODES.has(type)) {
    throw new GuestFsError(E.EINVAL, `file type 0o${type.toString(8)} cannot be created`);
  }
}
