import { assert, assertEquals, assertThrows } from "../../../../tests/assert.ts";
import { fuseName, FuseTestClient, withNames } from "./fuse_client_testing.ts";
import { VirtioFs } from "./virtio_fs.ts";
import { defaultLimits } from "./server.ts";
import { BodyWriter, OP } from "./wire.ts";

const S_IFREG = 0o100000, S_IFDIR = 0o040000;

function setup(opts = {}) {
  const dir = Deno.makeTempDirSync({ prefix: "vfs-" });
  const c = new FuseTestClient(dir, opts);
  return { dir, c, [Symbol.dispose]: () => cleanup(c, dir) };
}

function cleanup(c: FuseTestClient, dir: string) {
  c.close();
  Deno.removeSync(dir, { recursive: true });
}

const dec = new TextDecoder();

Deno.test("virtio-fs is device 26 with its tag and one request queue in config space", () => {
  using t = setup();
  assertEquals(t.c.device.deviceType, 26);
  assertEquals(t.c.device.queueMaxSizes.length, 2);
  const cfg = new Uint8Array(40);
  t.c.device.readConfig(0, cfg);
  assertEquals(dec.decode(cfg.subarray(0, 10)), "kataShared");
  assertEquals(cfg[10], 0);
  assertEquals(new DataView(cfg.buffer).getUint32(36, true), 1);
  assertThrows(() => new VirtioFs("", t.dir), Error, "Mount tag");
  assertThrows(() => new VirtioFs("x".repeat(37), t.dir), Error, "Mount tag");
  assertThrows(() => new VirtioFs("t", t.dir, { cache: "sometimes" }), Error, "virtio_fs_cache");
});

Deno.test("virtio-fs answers FUSE_INIT with 7.x, a 1 MiB max_write and no DAX; nothing before it", () => {
  using t = setup();
  assertEquals(t.c.call(OP.GETATTR, 1n, new Uint8Array(16)).error, -5);
  const out = t.c.init();
  assertEquals(out.getUint32(0, true), 7);
  assertEquals(out.getUint32(4, true), 38);
  assertEquals(out.getUint32(20, true), 1 << 20, "max_write");
  assertEquals(out.getUint16(28, true), 256, "max_pages");
  assertEquals(out.getUint16(30, true), 0, "map_alignment: no DAX");
  const flags = out.getUint32(12, true);
  assert(flags & (1 << 13), "readdirplus");
  assertEquals(flags & (1 << 16), 0, "no writeback cache");
  assertEquals(flags & (1 << 26), 0, "no DAX mapping");
  assertEquals(out.getUint32(32, true), 1 << 4, "mmap of direct-I/O files under cache=never");
  assertEquals(t.c.call(OP.SETUPMAPPING, 1n, new Uint8Array(40)).error, -38);
  // A guest that offers nothing gets nothing.
  assertEquals(t.c.init(0, 0).getUint32(12, true), 0);
});

Deno.test("virtio-fs maps virtio_fs_cache to entry and attribute time-outs as virtiofsd does", () => {
  for (
    const [cache, secs, fopen] of [["never", 0, 1], ["auto", 1, 0], ["always", 86400, 2]] as const
  ) {
    using t = setup({ cache });
    t.c.init();
    Deno.writeTextFileSync(`${t.dir}/f`, "x");
    const e = t.c.ok(OP.LOOKUP, 1n, fuseName("f"));
    assertEquals(Number(e.getBigUint64(16, true)), secs, `${cache}: entry_valid`);
    assertEquals(Number(e.getBigUint64(24, true)), secs, `${cache}: attr_valid`);
    const open = t.c.ok(OP.OPEN, FuseTestClient.nodeOf(e), new BodyWriter().u32(0).u32(0).finish());
    assertEquals(open.getUint32(8, true), fopen, `${cache}: open flags`);
  }
});

Deno.test("virtio-fs round trip: mkdir, create, write, read, readdir(plus), rename, link, unlink, rmdir", () => {
  using t = setup();
  const c = t.c;
  c.init();
  const d = FuseTestClient.nodeOf(
    c.ok(OP.MKDIR, 1n, withNames(new BodyWriter().u32(0o755).u32(0), "d")),
  );
  assert(Deno.statSync(`${t.dir}/d`).isDirectory);
  assertEquals(Deno.statSync(`${t.dir}/d`).mode! & 0o7777, 0o755);
  const created = c.ok(
    OP.CREATE,
    d,
    withNames(new BodyWriter().u32(2).u32(0o100644).u32(0).u32(0), "f"),
  );
  const f = FuseTestClient.nodeOf(created);
  assertEquals(FuseTestClient.modeOf(created), S_IFREG | 0o644);
  const fh = created.getBigUint64(128, true);
  const data = new TextEncoder().encode("hello virtio-fs");
  const wr = c.ok(
    OP.WRITE,
    f,
    new BodyWriter().u64(fh).u64(0).u32(data.length).u32(0).u64(0).u32(0).u32(0).bytes(data)
      .finish(),
  );
  assertEquals(wr.getUint32(0, true), data.length);
  assertEquals(Deno.readTextFileSync(`${t.dir}/d/f`), "hello virtio-fs");
  const rd = c.call(
    OP.READ,
    f,
    new BodyWriter().u64(fh).u64(6).u32(100).u32(0).u64(0).u32(0).u32(0).finish(),
  );
  assertEquals(dec.decode(rd.body), "virtio-fs");
  c.ok(OP.FSYNC, f, new BodyWriter().u64(fh).u32(1).u32(0).finish());
  c.ok(OP.FLUSH, f, new BodyWriter().u64(fh).u32(0).u32(0).u64(0).finish());
  // lseek: the data ends at 15, copy_file_range duplicates it into a second file.
  const end = c.ok(OP.LSEEK, f, new BodyWriter().u64(fh).u64(0).u32(4).u32(0).finish());
  assertEquals(end.getBigUint64(0, true), 15n);
  const g = c.ok(OP.CREATE, d, withNames(new BodyWriter().u32(2).u32(0o100600).u32(0).u32(0), "g"));
  const gh = g.getBigUint64(128, true);
  const cp = c.ok(
    OP.COPY_FILE_RANGE,
    f,
    new BodyWriter().u64(fh).u64(0).u64(FuseTestClient.nodeOf(g)).u64(gh).u64(0).u64(1000).u64(0)
      .finish(),
  );
  assertEquals(cp.getUint32(0, true), 15);
  assertEquals(Deno.readTextFileSync(`${t.dir}/d/g`), "hello virtio-fs");
  c.ok(OP.FALLOCATE, f, new BodyWriter().u64(fh).u64(0).u64(8192).u32(0).u32(0).finish());
  assertEquals(Deno.statSync(`${t.dir}/d/f`).size, 8192);
  // setattr: truncate through the handle, and times.
  const sa = c.ok(
    OP.SETATTR,
    f,
    new BodyWriter().u32(8 | 64 | 32).u32(0).u64(fh).u64(5).u64(0).u64(0).u64(1000).u64(0).u32(0)
      .u32(0).u32(0).u32(0).u32(0).u32(0).u32(0).u32(0).finish(),
  );
  assertEquals(sa.getBigUint64(16 + 8, true), 5n);
  assertEquals(Deno.statSync(`${t.dir}/d/f`).mtime!.getTime(), 1000_000);
  c.ok(OP.RELEASE, f, new BodyWriter().u64(fh).u32(0).u32(0).u64(0).finish());
  c.ok(OP.RELEASE, f, new BodyWriter().u64(gh).u32(0).u32(0).u64(0).finish());
  assertEquals(
    c.call(OP.RELEASE, f, new BodyWriter().u64(fh).u32(0).u32(0).u64(0).finish()).error,
    -9,
  );
  // symlink, readlink, hard link, xattrs.
  const l = c.ok(OP.SYMLINK, d, withNames(new BodyWriter(), "l", "f"));
  assertEquals(dec.decode(c.call(OP.READLINK, FuseTestClient.nodeOf(l)).body), "f");
  c.ok(OP.LINK, d, withNames(new BodyWriter().u64(f), "hard"));
  assertEquals(Deno.statSync(`${t.dir}/d/hard`).nlink, 2);
  // (setxattr's value follows its name)
  const setx = new Uint8Array([
    ...withNames(new BodyWriter().u32(3).u32(0), "user.k"),
    0x61,
    0x62,
    0x63,
  ]);
  c.ok(OP.SETXATTR, f, setx);
  assertEquals(
    dec.decode(c.call(OP.GETXATTR, f, withNames(new BodyWriter().u32(64).u32(0), "user.k")).body),
    "abc",
  );
  assertEquals(
    c.ok(OP.GETXATTR, f, withNames(new BodyWriter().u32(0).u32(0), "user.k")).getUint32(0, true),
    3,
  );
  assert(
    dec.decode(c.call(OP.LISTXATTR, f, new BodyWriter().u32(256).u32(0).finish()).body).includes(
      "user.k\0",
    ),
  );
  c.ok(OP.REMOVEXATTR, f, fuseName("user.k"));
  assertEquals(
    c.call(OP.GETXATTR, f, withNames(new BodyWriter().u32(64).u32(0), "user.k")).error,
    -61,
  );
  // readdir and readdirplus list what is there.
  const dh = c.ok(OP.OPENDIR, d, new BodyWriter().u32(0).u32(0).finish()).getBigUint64(0, true);
  const names = (plus: boolean) => {
    const r = c.call(
      plus ? OP.READDIRPLUS : OP.READDIR,
      d,
      new BodyWriter().u64(dh).u64(0).u32(8192).u32(0).u64(0).u32(0).u32(0).finish(),
    );
    assertEquals(r.error, 0);
    const v = new DataView(r.body.buffer, r.body.byteOffset, r.body.length);
    const out: string[] = [];
    for (let o = 0; o < r.body.length;) {
      if (plus) o += 128;
      const len = v.getUint32(o + 16, true);
      out.push(dec.decode(r.body.subarray(o + 24, o + 24 + len)));
      o += (24 + len + 7) & ~7;
    }
    return out.sort();
  };
  assertEquals(names(false), [".", "..", "f", "g", "hard", "l"]);
  assertEquals(names(true), [".", "..", "f", "g", "hard", "l"]);
  c.ok(OP.RELEASEDIR, d, new BodyWriter().u64(dh).u32(0).u32(0).u64(0).finish());
  // rename, rename2 (no replace), unlink, rmdir.
  c.ok(OP.RENAME, d, withNames(new BodyWriter().u64(1n), "g", "moved"));
  assertEquals(Deno.readTextFileSync(`${t.dir}/moved`), "hello virtio-fs");
  assertEquals(
    c.call(OP.RENAME2, 1n, withNames(new BodyWriter().u64(d).u32(1).u32(0), "moved", "f")).error,
    -17,
  );
  for (const n of ["f", "hard", "l"]) c.ok(OP.UNLINK, d, fuseName(n));
  assertEquals(c.call(OP.RMDIR, 1n, fuseName("d")).error, 0);
  c.ok(OP.UNLINK, 1n, fuseName("moved"));
  assertEquals([...Deno.readDirSync(t.dir)], []);
  const st = c.ok(OP.STATFS, 1n);
  assert(st.getUint32(40, true) > 0, "bsize");
  assertEquals(st.getUint32(44, true), 255, "namelen");
  // mkdir mode, getattr of the root.
  const root = c.ok(OP.GETATTR, 1n, new Uint8Array(16));
  assertEquals(root.getUint32(16 + 60, true) & 0o170000, S_IFDIR);
});

Deno.test("virtio-fs forgets on the high-priority queue: no reply, the inode is released", () => {
  using t = setup();
  t.c.init();
  Deno.writeTextFileSync(`${t.dir}/f`, "x");
  const node = FuseTestClient.nodeOf(t.c.ok(OP.LOOKUP, 1n, fuseName("f")));
  t.c.ok(OP.LOOKUP, 1n, fuseName("f"));
  assertEquals(t.c.device.server.counts.inodes, 2);
  assertEquals(t.c.hiprio(OP.FORGET, node, new BodyWriter().u64(1).finish()), 0);
  assertEquals(t.c.device.server.counts.inodes, 2, "one lookup is still held");
  const batch = new BodyWriter().u32(2).u32(0).u64(node).u64(1).u64(999).u64(1).finish();
  assertEquals(t.c.hiprio(OP.BATCH_FORGET, 0n, batch), 0);
  assertEquals(t.c.device.server.counts.inodes, 1);
  assertEquals(t.c.call(OP.GETATTR, node, new Uint8Array(16)).error, -9);
  // A device reset forgets everything; the guest starts over with INIT.
  t.c.ok(OP.LOOKUP, 1n, fuseName("f"));
  t.c.device.reset();
  assertEquals(t.c.device.server.counts, { inodes: 1, handles: 0 });
});

Deno.test("virtio-fs table limits follow the open-file limit, keeping fds for the shim", () => {
  const limits = (n: string) => defaultLimits(`Max open files            ${n}  ${n}  files\n`);
  assertEquals(limits("1048576"), { maxInodes: 65536, maxHandles: 16384 });
  assertEquals(limits("unlimited"), { maxInodes: 65536, maxHandles: 16384 });
  assertEquals(limits("20000"), { maxInodes: 12000, maxHandles: 3000 });
  assertEquals(limits("1024"), { maxInodes: 614, maxHandles: 153 });
  assertEquals(defaultLimits(""), { maxInodes: 614, maxHandles: 153 });
});

Deno.test("virtio-fs reuses its request and read buffers: each reply has its own request's data", () => {
  using t = setup();
  const c = t.c;
  c.init();
  const big = new Uint8Array(300_000).map((_, i) => i % 251);
  Deno.writeFileSync(`${t.dir}/big`, big);
  Deno.writeTextFileSync(`${t.dir}/small`, "tiny");
  const open = (name: string, flags = 0) => {
    const node = FuseTestClient.nodeOf(c.ok(OP.LOOKUP, 1n, fuseName(name)));
    const fh = c.ok(OP.OPEN, node, new BodyWriter().u32(flags).u32(0).finish()).getBigUint64(
      0,
      true,
    );
    return { node, fh };
  };
  const read = (f: { node: bigint; fh: bigint }, offset: number, size: number) =>
    c.call(
      OP.READ,
      f.node,
      new BodyWriter().u64(f.fh).u64(offset).u32(size).u32(0).u64(0).u32(0).u32(0).finish(),
    ).body;
  const b = open("big");
  const s = open("small", 2);
  assertEquals(read(b, 0, big.length), big);
  assertEquals(dec.decode(read(s, 0, 4096)), "tiny");
  assertEquals(read(b, 1000, 10), big.subarray(1000, 1010));
  // A write after a large request: only its own bytes reach the file.
  const data = new TextEncoder().encode("abc");
  c.ok(
    OP.WRITE,
    s.node,
    new BodyWriter().u64(s.fh).u64(4).u32(3).u32(0).u64(0).u32(0).u32(0).bytes(data).finish(),
  );
  assertEquals(Deno.readTextFileSync(`${t.dir}/small`), "tinyabc");
  assertEquals(dec.decode(read(s, 0, 4096)), "tinyabc");
});

Deno.test("virtio-fs agrees to background reads (FUSE_ASYNC_READ) and keeps what the guest did not offer", () => {
  using t = setup();
  assertEquals(t.c.init(1 | (1 << 3)).getUint32(12, true), 1 | (1 << 3));
  assertEquals(t.c.init(1 << 5).getUint32(12, true), 1 << 5);
});
