/**
 * mount(2) and umount2(2), with a parser that turns containerd's mount
 * options (`["ro", "rbind", "lowerdir=..."]`) into flags and a data string.
 * @module
 */
import { cstr, lazyLibc } from "./libc.ts";
import { check } from "./errno.ts";

const symbols = {
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "buffer"], result: "i32" },
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
} as const;

const sym = lazyLibc(symbols);

/** mount(2) flag bits. */
export const MS = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  SYNCHRONOUS: 16,
  REMOUNT: 32,
  MANDLOCK: 64,
  DIRSYNC: 128,
  NOATIME: 1024,
  NODIRATIME: 2048,
  BIND: 4096,
  REC: 16384,
  PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
  SHARED: 1 << 20,
  RELATIME: 1 << 21,
  STRICTATIME: 1 << 24,
} as const;

/** umount2(2) flags. */
export const MNT_DETACH = 2;

// [set, clear] per option word, as mount(8) and containerd's mount_linux.go read them.
const OPTION_FLAGS: Record<string, [boolean, number]> = {
  ro: [true, MS.RDONLY],
  rw: [false, MS.RDONLY],
  nosuid: [true, MS.NOSUID],
  suid: [false, MS.NOSUID],
  nodev: [true, MS.NODEV],
  dev: [false, MS.NODEV],
  noexec: [true, MS.NOEXEC],
  exec: [false, MS.NOEXEC],
  sync: [true, MS.SYNCHRONOUS],
  async: [false, MS.SYNCHRONOUS],
  dirsync: [true, MS.DIRSYNC],
  remount: [true, MS.REMOUNT],
  mand: [true, MS.MANDLOCK],
  nomand: [false, MS.MANDLOCK],
  noatime: [true, MS.NOATIME],
  atime: [false, MS.NOATIME],
  nodiratime: [true, MS.NODIRATIME],
  diratime: [false, MS.NODIRATIME],
  bind: [true, MS.BIND],
  rbind: [true, MS.BIND | MS.REC],
  relatime: [true, MS.RELATIME],
  norelatime: [false, MS.RELATIME],
  strictatime: [true, MS.STRICTATIME],
  defaults: [false, 0],
};

/** Splits mount options into mount(2) flags and the file-system data string. */
export function parseMountOptions(options: readonly string[]): { flags: number; data: string } {
  let flags = 0;
  const data: string[] = [];
  for (const o of options) {
    const f = OPTION_FLAGS[o];
    if (f === undefined) data.push(o);
    else if (f[0]) flags |= f[1];
    else flags &= ~f[1];
  }
  return { flags, data: data.join(",") };
}

/** mount(2) of `source` on `target` with a file-system type and containerd-style options. */
export function mount(source: string, target: string, fstype: string, options: readonly string[]) {
  const { flags, data } = parseMountOptions(options);
  const what = `${fstype} ${source} on ${target}`;
  check(
    sym().mount(cstr(source), cstr(target), cstr(fstype), BigInt(flags), cstr(data)),
    "mount",
    what,
  );
  // A bind mount ignores MS_RDONLY on the first call: apply it with a remount.
  if ((flags & MS.BIND) && (flags & MS.RDONLY)) {
    const re = BigInt(flags | MS.REMOUNT);
    check(
      sym().mount(cstr(""), cstr(target), cstr(""), re, cstr("")),
      "mount",
      `remount ro ${target}`,
    );
  }
}

/** umount2(2) of `target` with `flags` (e.g. {@link MNT_DETACH}). */
export function unmount(target: string, flags = 0): void {
  check(sym().umount2(cstr(target), flags), "umount2", target);
}

/** Whether `path` is a mount point (a line of /proc/self/mountinfo names it). */
export function isMountPoint(path: string): boolean {
  const text = Deno.readTextFileSync("/proc/self/mountinfo");
  const want = path.replace(/\/+$/, "") || "/";
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    if (fields.length > 4 && unescapeMountPath(fields[4]) === want) return true;
  }
  return false;
}

function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}
