import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import { SysError } from "./errno.ts";
import { isMountPoint, mount, MS, parseMountOptions, unmount } from "./mount.ts";
import { testsNeeding } from "../tests/tier.ts";

/** test: these tests need more than the unit tier (ignored, saying why, where missing). */
const test = testsNeeding({ root: true });

Deno.test("mount: containerd options split into flags and data", () => {
  assertEquals(parseMountOptions(["rbind", "ro"]), {
    flags: MS.BIND | MS.REC | MS.RDONLY,
    data: "",
  });
  assertEquals(
    parseMountOptions(["index=off", "workdir=/w", "upperdir=/u", "lowerdir=/l1:/l2"]),
    { flags: 0, data: "index=off,workdir=/w,upperdir=/u,lowerdir=/l1:/l2" },
  );
  assertEquals(parseMountOptions(["ro", "rw", "nosuid", "nodev"]).flags, MS.NOSUID | MS.NODEV);
});

test("mount: a real tmpfs and a read-only bind mount, then unmounted", () => {
  const dir = Deno.makeTempDirSync();
  const a = `${dir}/a`;
  const b = `${dir}/b`;
  Deno.mkdirSync(a);
  Deno.mkdirSync(b);
  try {
    mount("tmpfs", a, "tmpfs", ["size=1m", "nosuid"]);
    assert(isMountPoint(a));
    Deno.writeTextFileSync(`${a}/f`, "x");
    mount(a, b, "", ["bind", "ro"]);
    assert(isMountPoint(b));
    assertEquals(Deno.readTextFileSync(`${b}/f`), "x");
    assertThrows(() => Deno.writeTextFileSync(`${b}/g`, "y"));
    unmount(b);
    unmount(a);
    assert(!isMountPoint(a) && !isMountPoint(b));
    const e = assertThrows(() => unmount(a), SysError);
    assert(e.message.includes(a), e.message);
  } finally {
    for (const p of [b, a]) {
      if (isMountPoint(p)) unmount(p);
    }
    Deno.removeSync(dir, { recursive: true });
  }
});
