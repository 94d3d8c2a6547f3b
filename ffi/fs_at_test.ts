import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import {
  AT,
  closeAt,
  fdPath,
  getdents,
  linkAt,
  mkdirAt,
  OF,
  openat2,
  openat2OrMissing,
  preadFd,
  pwriteFd,
  readlinkFd,
  RESOLVE,
  S,
  statAt,
  symlinkAt,
  unlinkAt,
} from "./fs_at.ts";
import { SysError } from "./errno.ts";

const BENEATH = RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS;

Deno.test("openat2 with RESOLVE_BENEATH refuses `..`, absolute paths and symlinks", () => {
  const dir = Deno.makeTempDirSync();
  const root = openat2(-100, dir, OF.PATH | OF.DIRECTORY, 0, 0);
  try {
    Deno.symlinkSync("/etc", `${dir}/l`);
    assertThrows(() => openat2(root, "../", OF.PATH, 0, BENEATH), SysError, "errno 18");
    assertThrows(() => openat2(root, "/etc", OF.PATH, 0, BENEATH), SysError, "errno 18");
    assertThrows(() => openat2(root, "l/passwd", OF.PATH, 0, BENEATH), SysError, "errno 40");
    // O_PATH | O_NOFOLLOW of a symlink names the link itself.
    const l = openat2(root, "l", OF.PATH | OF.NOFOLLOW, 0, BENEATH);
    assertEquals(statAt(l).mode & S.IFMT, S.IFLNK);
    assertEquals(new TextDecoder().decode(readlinkFd(l)), "/etc");
    closeAt(l);
  } finally {
    closeAt(root);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("openat2OrMissing returns -1 for a missing name and throws every other failure", () => {
  const dir = Deno.makeTempDirSync();
  const root = openat2(-100, dir, OF.PATH | OF.DIRECTORY, 0, 0);
  try {
    Deno.writeTextFileSync(`${dir}/f`, "x");
    assertEquals(openat2OrMissing(root, "nothing", OF.PATH, 0, BENEATH), -1);
    assertThrows(() => openat2OrMissing(root, "../", OF.PATH, 0, BENEATH), SysError, "errno 18");
    const f = openat2OrMissing(root, "f", OF.PATH | OF.NOFOLLOW, 0, BENEATH);
    assert(f >= 0);
    assertEquals(statAt(f).size, 1n);
    closeAt(f);
  } finally {
    closeAt(root);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("fd-relative create, link, positioned I/O, getdents and unlink", () => {
  const dir = Deno.makeTempDirSync();
  const root = openat2(-100, dir, OF.PATH | OF.DIRECTORY, 0, 0);
  try {
    mkdirAt(root, "d", 0o755);
    symlinkAt("target", root, "s");
    const f = openat2(root, "f", OF.RDWR | OF.CREAT | OF.EXCL, 0o600, BENEATH);
    assertEquals(pwriteFd(f, new TextEncoder().encode("hello"), 2n), 5);
    const buf = new Uint8Array(7);
    assertEquals(preadFd(f, buf, 0n), 7);
    assertEquals(new TextDecoder().decode(buf.subarray(2)), "hello");
    const p = openat2(root, "f", OF.PATH, 0, BENEATH);
    linkAt(AT.FDCWD, fdPath(p), root, "g", AT.SYMLINK_FOLLOW);
    assertEquals(statAt(root, "g").nlink, 2);
    assertEquals(statAt(root, "g").size, 7n);
    const d = openat2(root, ".", OF.DIRECTORY, 0, BENEATH);
    const names = getdents(d).map((e) => new TextDecoder().decode(e.name)).sort();
    assertEquals(names, [".", "..", "d", "f", "g", "s"]);
    closeAt(d);
    closeAt(p);
    closeAt(f);
    unlinkAt(root, "g", 0);
    unlinkAt(root, "d", AT.REMOVEDIR);
    assertThrows(() => statAt(root, "g"), SysError, "errno 2");
    assert(statAt(root).mode & S.IFDIR);
  } finally {
    closeAt(root);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("statx reports type, size and a device number in the kernel's new encoding", () => {
  const st = statAt(-100, "/dev/null");
  assertEquals(st.mode & S.IFMT, S.IFCHR);
  assertEquals(st.rdev, (1 << 8) | 3); // 1:3
  assert(st.ino > 0n);
});
