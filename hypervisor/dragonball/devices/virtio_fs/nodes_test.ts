import { assertEquals, assertThrows } from "../../../../tests/assert.ts";
import { OF, openat2, statAt } from "../../../../ffi/fs_at.ts";
import { GuestFsError } from "../virtio/host_errno.ts";
import { HandleTable, InodeTable, ROOT_ID } from "./nodes.ts";

Deno.test("inode table: one node per host file, counted lookups, bounded, root never forgotten", () => {
  const dir = Deno.makeTempDirSync();
  Deno.writeTextFileSync(`${dir}/a`, "");
  Deno.writeTextFileSync(`${dir}/b`, "");
  const rootFd = openat2(-100, dir, OF.PATH, 0, 0);
  const t = new InodeTable(rootFd, statAt(rootFd), 2);
  try {
    const open = (n: string) => openat2(rootFd, n, OF.PATH, 0, 0);
    const fa = open("a");
    const a = t.hold(fa, statAt(fa));
    const fa2 = open("a");
    assertEquals(t.hold(fa2, statAt(fa2)).id, a.id, "the same file is the same node");
    assertEquals(a.refs, 2n);
    const fb = open("b");
    assertThrows(() => t.hold(fb, statAt(fb)), GuestFsError, "inode table is full");
    t.forget(a.id, 1n);
    assertEquals(t.get(a.id).refs, 1n);
    t.forget(a.id, 5n);
    assertThrows(() => t.get(a.id), GuestFsError, "unknown");
    t.forget(ROOT_ID, 100n);
    assertEquals(t.get(ROOT_ID).id, ROOT_ID);
    t.forget(12345n, 1n); // unknown: ignored
  } finally {
    t.clear(true);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("handle table: bounded, typed by file or directory, closed on release and clear", () => {
  const dir = Deno.makeTempDirSync();
  const rootFd = openat2(-100, dir, OF.PATH, 0, 0);
  const inodes = new InodeTable(rootFd, statAt(rootFd), 4);
  const t = new HandleTable(2);
  try {
    const node = inodes.get(ROOT_ID);
    const h1 = t.add(openat2(-100, dir, OF.DIRECTORY, 0, 0), node, true);
    t.add(openat2(-100, dir, OF.DIRECTORY, 0, 0), node, true);
    assertThrows(
      () => t.add(openat2(-100, dir, OF.DIRECTORY, 0, 0), node, true),
      GuestFsError,
      "full",
    );
    assertThrows(() => t.get(h1, false), GuestFsError, "file handle");
    t.release(h1, true);
    assertThrows(() => t.release(h1, true), GuestFsError, "not open");
    assertEquals(t.size, 1);
    t.clear();
    assertEquals(t.size, 0);
  } finally {
    inodes.clear(true);
    Deno.removeSync(dir, { recursive: true });
  }
});
