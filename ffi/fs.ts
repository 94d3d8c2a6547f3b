/**
 * File-system calls Deno's file API lacks: statfs(2) and mknod(2).
 * @module
 */
import { cstr } from "./libc.ts";
import { check } from "./errno.ts";

const symbols = {
  statfs: { parameters: ["buffer", "buffer"], result: "i32" },
  mknod: { parameters: ["buffer", "u32", "u64"], result: "i32" },
} as const;

let lib: Deno.DynamicLibrary<typeof symbols> | undefined;
function sym(): Deno.DynamicLibrary<typeof symbols>["symbols"] {
  lib ??= Deno.dlopen("libc.so.6", symbols);
  return lib.symbols;
}

/** What statfs(2) reports about a mounted file system. */
export interface FsStats {
  type: number;
  blockSize: number;
  blocks: bigint;
  blocksFree: bigint;
  blocksAvailable: bigint;
  files: bigint;
  filesFree: bigint;
  fsid: bigint;
  nameMax: number;
}

/** `struct statfs` on x86_64 Linux: eleven 8-byte fields plus 4 spare. */
const STATFS_SIZE = 120;

/** statfs(2) of the file system holding `path`. */
export function statfs(path: string): FsStats {
  const buf = new Uint8Array(STATFS_SIZE);
  check(sym().statfs(cstr(path), buf), "statfs", path);
  const dv = new DataView(buf.buffer);
  const u = (i: number) => dv.getBigUint64(i * 8, true);
  return {
    type: Number(u(0) & 0xffffffffn),
    blockSize: Number(u(1)),
    blocks: u(2),
    blocksFree: u(3),
    blocksAvailable: u(4),
    files: u(5),
    filesFree: u(6),
    fsid: u(7),
    nameMax: Number(u(8)),
  };
}

/** The kernel's dev_t encoding of a major and minor number. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) |
    (mi & 0xffn);
}

/** mknod(2): creates a FIFO, socket, device node or regular file at `path`. */
export function mknod(path: string, mode: number, major = 0, minor = 0): void {
  check(sym().mknod(cstr(path), mode >>> 0, makedev(major, minor)), "mknod", path);
}
