import { assert, assertEquals } from "../../../../tests/assert.ts";
import { fuseName, FuseTestClient, withNames } from "./fuse_client_testing.ts";
import { BodyWriter, OP } from "./wire.ts";
import type { FuseServerOptions } from "./server.ts";
import { mount, unmount } from "../../../../ffi/mount.ts";
import { testsNeeding } from "../../../../tests/tier.ts";

/** rootTest: needs root to mount a file system inside the share (ignored, saying why, elsewhere). */
const rootTest = testsNeeding({ root: true });

const EPERM = -1, ENOENT = -2, EBADF = -9, EINVAL = -22, ENFILE = -23, ENOTDIR = -20;
const ERANGE = -34, ENAMETOOLONG = -36, ELOOP = -40;

/** A share beside a directory outside it that holds a secret. */
function setup(opts: FuseServerOptions = {}) {
  const base = Deno.makeTempDirSync({ prefix: "vfs-esc-" });
  Deno.mkdirSync(`${base}/share`);
  Deno.mkdirSync(`${base}/outside`);
  Deno.writeTextFileSync(`${base}/outside/secret`, "host secret");
  const c = new FuseTestClient(`${base}/share`, opts);
  c.init();
  return {
    base,
    share: `${base}/share`,
    c,
    [Symbol.dispose]: () => {
      c.close();
      Deno.removeSync(base, { recursive: true });
    },
  };
}

const open0 = () => new BodyWriter().u32(0).u32(0).finish();
const lookup = (c: FuseTestClient, parent: bigint, name: string) =>
  c.call(OP.LOOKUP, parent, fuseName(name));

Deno.test("virtio-fs never follows a symlink out of the share", () => {
  using t = setup();
  Deno.symlinkSync(`${t.base}/outside`, `${t.share}/abs`);
  Deno.symlinkSync("../outside", `${t.share}/rel`);
  Deno.symlinkSync(`${t.base}/outside/secret`, `${t.share}/file`);
  for (const link of ["abs", "rel"]) {
    const node = FuseTestClient.nodeOf(t.c.ok(OP.LOOKUP, 1n, fuseName(link)));
    assertEquals(lookup(t.c, node, "secret").error, ENOTDIR, `${link}: lookup through it`);
    assertEquals(t.c.call(OP.OPENDIR, node, open0()).error, ENOTDIR, `${link}: opendir`);
    const created = t.c.call(
      OP.CREATE,
      node,
      withNames(new BodyWriter().u32(2).u32(0o644).u32(0).u32(0), "x"),
    );
    assertEquals(created.error, ENOTDIR, `${link}: create through it`);
  }
  const file = FuseTestClient.nodeOf(t.c.ok(OP.LOOKUP, 1n, fuseName("file")));
  assertEquals(t.c.call(OP.OPEN, file, open0()).error, ELOOP);
  assertEquals(
    t.c.call(OP.SETATTR, file, new BodyWriter().u32(8).zeros(84).finish()).error,
    EINVAL,
  );
  // A guest-made symlink is stored as text and never resolved by the server.
  const own = FuseTestClient.nodeOf(
    t.c.ok(OP.SYMLINK, 1n, withNames(new BodyWriter(), "mine", "/etc")),
  );
  assertEquals(lookup(t.c, own, "passwd").error, ENOTDIR);
  assertEquals(Deno.readLinkSync(`${t.share}/mine`), "/etc");
  assertEquals(Deno.readTextFileSync(`${t.base}/outside/secret`), "host secret");
});

Deno.test("virtio-fs refuses `..`, `.`, `/` and over-long names; a swapped directory does not lead out", () => {
  using t = setup();
  Deno.mkdirSync(`${t.share}/d`);
  const d = FuseTestClient.nodeOf(t.c.ok(OP.LOOKUP, 1n, fuseName("d")));
  for (const bad of ["..", ".", "../outside", "d/../../outside", ""]) {
    assertEquals(lookup(t.c, d, bad).error, EINVAL, `lookup ${JSON.stringify(bad)}`);
    const mk = t.c.call(OP.MKDIR, d, withNames(new BodyWriter().u32(0o755).u32(0), bad));
    assertEquals(mk.error, EINVAL, `mkdir ${JSON.stringify(bad)}`);
  }
  assertEquals(lookup(t.c, 1n, "..").error, EINVAL);
  const rn = t.c.call(OP.RENAME, d, withNames(new BodyWriter().u64(1n), "x", "../../outside/y"));
  assertEquals(rn.error, EINVAL);
  assertEquals(lookup(t.c, 1n, "n".repeat(256)).error, ENAMETOOLONG);
  // The host moves d away and puts a symlink to the outside in its place:
  // the guest's node still means the directory it looked up.
  Deno.renameSync(`${t.share}/d`, `${t.share}/d2`);
  Deno.symlinkSync(`${t.base}/outside`, `${t.share}/d`);
  assertEquals(lookup(t.c, d, "secret").error, ENOENT);
  const again = FuseTestClient.nodeOf(t.c.ok(OP.LOOKUP, 1n, fuseName("d")));
  assertEquals(lookup(t.c, again, "secret").error, ENOTDIR);
});

Deno.test("virtio-fs hard links cannot reach a file outside the share", () => {
  using t = setup();
  const outside = `${t.base}/outside/secret`;
  const inode = BigInt(Deno.statSync(outside).ino!);
  // A node id is a counter the server hands out, not a host inode number.
  for (const guess of [inode, 2n, 3n, 1000n]) {
    const r = t.c.call(OP.LINK, 1n, withNames(new BodyWriter().u64(guess), "stolen"));
    assertEquals(r.error, EBADF, `link from node ${guess}`);
  }
  // Linking a symlink to the outside links the symlink, not its target.
  Deno.symlinkSync(outside, `${t.share}/sym`);
  const sym = FuseTestClient.nodeOf(t.c.ok(OP.LOOKUP, 1n, fuseName("sym")));
  t.c.ok(OP.LINK, 1n, withNames(new BodyWriter().u64(sym), "copy"));
  assert(Deno.lstatSync(`${t.share}/copy`).isSymlink);
  assertEquals(Deno.statSync(outside).nlink, 1);
  // A directory cannot be hard-linked.
  Deno.mkdirSync(`${t.share}/dir`);
  const dir = FuseTestClient.nodeOf(t.c.ok(OP.LOOKUP, 1n, fuseName("dir")));
  assertEquals(t.c.call(OP.LINK, 1n, withNames(new BodyWriter().u64(dir), "dl")).error, EPERM);
});

Deno.test("virtio-fs creates no device node, setuid or setgid file, nor privileged xattr", () => {
  using t = setup();
  const mknod = (name: string, mode: number, rdev = 0) =>
    t.c.call(OP.MKNOD, 1n, withNames(new BodyWriter().u32(mode).u32(rdev).u32(0).u32(0), name));
  assertEquals(mknod("sda", 0o060600, (8 << 8) | 0).error, EPERM);
  assertEquals(mknod("mem", 0o020600, (1 << 8) | 1).error, EPERM);
  assertEquals(mknod("odd", 0o170600).error, EINVAL);
  assertEquals([...Deno.readDirSync(t.share)], []);
  assertEquals(mknod("fifo", 0o010640).error, 0);
  assert(Deno.lstatSync(`${t.share}/fifo`).isFifo);
  assertEquals(Deno.lstatSync(`${t.share}/fifo`).mode! & 0o7777, 0o640);
  // A FIFO is never opened by the server (it could block the VMM).
  const fifo = FuseTestClient.nodeOf(t.c.ok(OP.LOOKUP, 1n, fuseName("fifo")));
  assertEquals(t.c.call(OP.OPEN, fifo, open0()).error, -95);
  const mode = (p: string) => Deno.statSync(`${t.share}/${p}`).mode! & 0o7777;
  const cr = t.c.ok(
    OP.CREATE,
    1n,
    withNames(new BodyWriter().u32(2).u32(0o106755).u32(0).u32(0), "suid"),
  );
  assertEquals(mode("suid"), 0o755);
  const node = FuseTestClient.nodeOf(cr);
  t.c.ok(OP.MKDIR, 1n, withNames(new BodyWriter().u32(0o3775).u32(0), "sgid"));
  assertEquals(mode("sgid"), 0o1775);
  assertEquals(mknod("reg", 0o102755).error, 0);
  assertEquals(mode("reg"), 0o755);
  const chmod = new BodyWriter().u32(1).zeros(4 + 8 * 6 + 4 * 3).u32(0o6777).zeros(16).finish();
  t.c.ok(OP.SETATTR, node, chmod);
  assertEquals(mode("suid"), 0o777);
  const setx = (name: string) =>
    t.c.call(
      OP.SETXATTR,
      node,
      new Uint8Array([...withNames(new BodyWriter().u32(1).u32(0), name), 1]),
    );
  assertEquals(setx("security.capability").error, EPERM);
  assertEquals(setx("trusted.overlay.opaque").error, EPERM);
  const whiteout = withNames(new BodyWriter().u64(1n).u32(4).u32(0), "suid", "wh");
  assertEquals(t.c.call(OP.RENAME2, 1n, whiteout).error, EINVAL);
});

Deno.test("virtio-fs bounds the inode and handle tables; a flood gets ENFILE and nothing leaks", () => {
  using t = setup({ maxInodes: 8, maxHandles: 16 });
  Deno.writeTextFileSync(`${t.share}/f`, "x");
  const f = FuseTestClient.nodeOf(t.c.ok(OP.LOOKUP, 1n, fuseName("f")));
  const fhs: bigint[] = [];
  let refused = 0;
  for (let i = 0; i < 100; i++) {
    const r = t.c.call(OP.OPEN, f, open0());
    if (r.error === 0) fhs.push(new DataView(r.body.buffer).getBigUint64(0, true));
    else if (r.error === ENFILE) refused++;
  }
  assertEquals([fhs.length, refused], [16, 84]);
  const fdsBefore = [...Deno.readDirSync("/proc/self/fd")].length;
  for (const fh of fhs) t.c.ok(OP.RELEASE, f, new BodyWriter().u64(fh).zeros(16).finish());
  assertEquals([...Deno.readDirSync("/proc/self/fd")].length, fdsBefore - 16);
  assertEquals(t.c.call(OP.OPEN, f, open0()).error, 0);
  for (let i = 0; i < 20; i++) Deno.writeTextFileSync(`${t.share}/g${i}`, "");
  const looked = Array.from({ length: 20 }, (_, i) => lookup(t.c, 1n, `g${i}`).error);
  assertEquals(looked.filter((e) => e === 0).length, 6, "8 inodes: the root, f and six more");
  assertEquals(looked.filter((e) => e === ENFILE).length, 14);
  assertEquals(t.c.device.server.counts.inodes, 8);
  // readdirplus stops at the limit instead of failing the listing.
  const dh = new DataView(t.c.call(OP.OPENDIR, 1n, open0()).body.buffer).getBigUint64(0, true);
  const plus = t.c.call(
    OP.READDIRPLUS,
    1n,
    new BodyWriter().u64(dh).u64(0).u32(65536).zeros(20).finish(),
  );
  assert(plus.error === 0 || plus.error === ENFILE);
});

Deno.test("virtio-fs answers truncated, oversized and inconsistent requests with an error", () => {
  using t = setup();
  const c = t.c;
  Deno.writeTextFileSync(`${t.share}/f`, "data");
  const f = FuseTestClient.nodeOf(c.ok(OP.LOOKUP, 1n, fuseName("f")));
  const fh = new DataView(c.call(OP.OPEN, f, new BodyWriter().u32(2).u32(0).finish()).body.buffer)
    .getBigUint64(0, true);
  // Shorter than the in header: an error reply without a unique to echo.
  const tiny = c.raw(new Uint8Array(20));
  assertEquals([tiny.error, tiny.unique], [EINVAL, 0n]);
  // A header claiming more bytes than were sent.
  const msg = c.message(OP.LOOKUP, 1n, fuseName("f"));
  new DataView(msg.buffer).setUint32(0, msg.length + 100, true);
  assertEquals(c.raw(msg).error, EINVAL);
  // A body shorter than its struct; a name without its NUL.
  assertEquals(c.call(OP.SETATTR, f, new Uint8Array(10)).error, EINVAL);
  assertEquals(c.call(OP.LOOKUP, 1n, new TextEncoder().encode("f")).error, EINVAL);
  // A write whose data is shorter than its size, and one over max_write.
  const write = (size: number, data: number) =>
    c.call(OP.WRITE, f, new BodyWriter().u64(fh).u64(0).u32(size).zeros(20).zeros(data).finish());
  assertEquals(write(4096, 10).error, EINVAL);
  assertEquals(write((1 << 20) + 1, (1 << 20) + 1).error, EINVAL);
  // A request longer than the device reads is cut, so its length no longer matches.
  assertEquals(write(2 << 20, 2 << 20).error, EINVAL);
  // A batch forget whose count exceeds its body is ignored (no reply).
  assertEquals(c.hiprio(OP.BATCH_FORGET, 0n, new BodyWriter().u32(1 << 30).u32(0).finish()), 0);
  // Reply room too small for the reply; no room for even a header.
  assertEquals(c.call(OP.LOOKUP, 1n, fuseName("f"), 64).error, ERANGE);
  assertEquals(c.call(OP.LOOKUP, 1n, fuseName("f"), 8).used, 0);
  // A read asking for more than the room gets what fits, split across buffers.
  const rd = c.raw(
    c.message(OP.READ, f, new BodyWriter().u64(fh).u64(0).u32(1 << 20).zeros(20).finish()),
    18,
    9,
  );
  assertEquals([rd.error, rd.body.length], [0, 2]);
  // Unknown and unsupported opcodes.
  assertEquals(c.call(9999, 1n).error, -38);
  assertEquals(c.call(OP.GETATTR, 77n, new Uint8Array(16)).error, EBADF);
  assertEquals(c.call(OP.READ, f, new BodyWriter().u64(999).zeros(32).finish()).error, EBADF);
});

rootTest("virtio-fs announces a host mount inside the share as a submount (its own st_dev)", () => {
  using t = setup();
  Deno.mkdirSync(`${t.share}/vol`);
  Deno.mkdirSync(`${t.share}/plain`);
  mount("tmpfs", `${t.share}/vol`, "tmpfs", ["size=1m"]);
  try {
    assert(t.c.init().getUint32(12, true) & (1 << 27), "FUSE_SUBMOUNTS negotiated");
    const flags = (name: string) => t.c.ok(OP.LOOKUP, 1n, fuseName(name)).getUint32(40 + 84, true);
    assertEquals(flags("vol"), 1, "FUSE_ATTR_SUBMOUNT on the mount point");
    assertEquals(flags("plain"), 0);
    const vol = FuseTestClient.nodeOf(t.c.ok(OP.LOOKUP, 1n, fuseName("vol")));
    t.c.ok(OP.MKDIR, vol, withNames(new BodyWriter().u32(0o755).u32(0), "inner"));
    assertEquals(t.c.ok(OP.LOOKUP, vol, fuseName("inner")).getUint32(40 + 84, true), 0);
    t.c.close();
  } finally {
    unmount(`${t.share}/vol`);
  }
});
