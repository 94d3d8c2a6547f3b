import { assertEquals, assertThrows } from "../../../../tests/assert.ts";
import { P9Error } from "./errno.ts";
import { GuestFsError } from "../virtio/host_errno.ts";
import { checkName, FidTable, ShareRoot } from "./fids.ts";

Deno.test("9p fid table: unknown and reused fids are EBADF, renames carry fids below the old name", () => {
  const t = new FidTable();
  t.add(1, { parts: ["a", "b"] });
  t.add(2, { parts: ["a"] });
  t.add(3, { parts: ["ab"] });
  assertThrows(() => t.add(1, { parts: [] }), P9Error, "fid 1 is in use");
  assertThrows(() => t.get(9), P9Error, "Unknown fid 9");
  t.renamed(["a"], ["z"]);
  assertEquals([t.get(1).parts, t.get(2).parts, t.get(3).parts], [["z", "b"], ["z"], ["ab"]]);
  t.clunk(2);
  assertEquals(t.size, 2);
  t.clear();
  assertEquals(t.size, 0);
});

Deno.test("9p fid table is bounded: past its limit a new fid is ENFILE", () => {
  const t = new FidTable(2);
  t.add(1, { parts: [] });
  t.add(2, { parts: [] });
  const e = assertThrows(() => t.add(3, { parts: [] }), P9Error, "fid table is full");
  assertEquals(e.errno, 23);
  t.clunk(1);
  t.add(3, { parts: [] });
  assertEquals(t.size, 2);
});

Deno.test("9p confinement: names are one component, and a symlinked parent cannot lead out", () => {
  for (const bad of ["", ".", "..", "a/b", "a\0b", "x".repeat(256)]) {
    assertThrows(() => checkName(bad), GuestFsError);
  }
  const dir = Deno.makeTempDirSync();
  const outside = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${dir}/sub`);
    Deno.symlinkSync(outside, `${dir}/escape`);
    const root = new ShareRoot(dir, true);
    assertEquals(root.host(["sub", "f"]), `${Deno.realPathSync(dir)}/sub/f`);
    assertThrows(() => root.host(["escape", "f"]), P9Error, "leaves the shared directory");
    assertThrows(() => root.noSymlink(["escape"]), P9Error, "does not follow symlinks");
    assertThrows(() => root.writable(), P9Error, "read-only");
  } finally {
    Deno.removeSync(dir, { recursive: true });
    Deno.removeSync(outside, { recursive: true });
  }
});
