import { assert, assertEquals } from "../../../../tests/assert.ts";
import { P9Server } from "./server.ts";
import { P9, Reader, readHeader, Writer } from "./wire.ts";

const te = new TextEncoder();
const td = new TextDecoder();

/** A minimal 9P2000.L client speaking to the server in memory. */
class Client {
  #tag = 1;
  constructor(readonly server: P9Server) {}

  /** Sends a request built by `fill`; returns the reply body, or throws its errno. */
  call(type: number, fill: (w: Writer) => Writer, maxReply?: number): Reader {
    const reply = this.server.handle(fill(new Writer(type, this.#tag++)).finish(), maxReply);
    const r = new Reader(reply);
    const h = readHeader(r);
    if (h.type === P9.Rlerror) throw new Errno(r.u32());
    assertEquals(h.type, type + 1, "reply type answers the request");
    return r;
  }

  /** The errno of a request expected to fail. */
  errno(type: number, fill: (w: Writer) => Writer): number {
    try {
      this.call(type, fill);
    } catch (e) {
      if (e instanceof Errno) return e.errno;
      throw e;
    }
    throw new Error("request succeeded but was expected to fail");
  }

  attach(fid = 0): void {
    this.call(P9.Tversion, (w) => w.u32(65536).str("9P2000.L"));
    this.call(P9.Tattach, (w) => w.u32(fid).u32(0xffffffff).str("root").str("").u32(0));
  }

  walk(fid: number, newfid: number, ...names: string[]): number {
    const r = this.call(P9.Twalk, (w) => {
      w.u32(fid).u32(newfid).u16(names.length);
      for (const n of names) w.str(n);
      return w;
    });
    return r.u16();
  }

  open(fid: number, flags: number): void {
    this.call(P9.Tlopen, (w) => w.u32(fid).u32(flags));
  }

  read(fid: number, offset: number, count: number): string {
    const r = this.call(P9.Tread, (w) => w.u32(fid).u64(offset).u32(count));
    return td.decode(r.bytesOf(r.u32()));
  }

  /** Every name in directory `fid` (opened), reading a few entries per request. */
  readdir(fid: number, count = 80): string[] {
    const names: string[] = [];
    let offset = 0;
    for (;;) {
      const r = this.call(P9.Treaddir, (w) => w.u32(fid).u64(offset).u32(count));
      if (r.u32() === 0) return names;
      while (r.remaining > 0) {
        r.bytesOf(13, "qid");
        offset = r.num("offset");
        r.u8("type");
        names.push(r.str("name"));
      }
      if (names.length > 1000) throw new Error("readdir does not end");
    }
  }

  clunk(fid: number): void {
    this.call(P9.Tclunk, (w) => w.u32(fid));
  }
}

class Errno extends Error {
  constructor(readonly errno: number) {
    super(`errno ${errno}`);
  }
}

function tree(): string {
  const dir = Deno.makeTempDirSync({ prefix: "p9-" });
  Deno.mkdirSync(`${dir}/share/sub`, { recursive: true });
  Deno.writeTextFileSync(`${dir}/share/hello.txt`, "hello from the host");
  Deno.writeTextFileSync(`${dir}/secret`, "outside the share");
  Deno.symlinkSync("/etc", `${dir}/share/etc-link`);
  Deno.symlinkSync("../secret", `${dir}/share/up-link`);
  return dir;
}

const O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_DIRECTORY = 0o200000;

Deno.test("9p server: version, attach, walk, getattr, read and readdir", () => {
  const dir = tree();
  const s = new P9Server(`${dir}/share`);
  const c = new Client(s);
  try {
    const v = c.call(P9.Tversion, (w) => w.u32(1 << 24).str("9P2000.L"));
    assertEquals([v.u32(), v.str()], [512 * 1024, "9P2000.L"]);
    const other = c.call(P9.Tversion, (w) => w.u32(8192).str("9P2000.u"));
    assertEquals([other.u32(), other.str()], [8192, "unknown"]);
    c.attach();
    assertEquals(c.walk(0, 1, "hello.txt"), 1);
    const a = c.call(P9.Tgetattr, (w) => w.u32(1).u64(0x7ff));
    assertEquals(a.u64(), 0x7ffn);
    assertEquals(a.u8(), 0, "qid type file");
    a.u32();
    assertEquals(a.u64(), BigInt(Deno.statSync(`${dir}/share/hello.txt`).ino!));
    assertEquals(a.u32() & 0o170000, 0o100000, "mode says regular file");
    a.u32(), a.u32(), a.u64(), a.u64();
    assertEquals(a.u64(), 19n, "size");
    c.open(1, O_RDONLY);
    assertEquals(c.read(1, 0, 4096), "hello from the host");
    assertEquals(c.read(1, 6, 4), "from");
    assertEquals(c.read(1, 100, 10), "");
    c.clunk(1);
    assertEquals(c.walk(0, 2), 0, "a walk of no names clones the fid");
    c.open(2, O_RDONLY | O_DIRECTORY);
    assertEquals(
      c.readdir(2).sort(),
      [".", "..", "etc-link", "hello.txt", "sub", "up-link"],
    );
    c.clunk(2);
    assertEquals(s.fidCount, 1);
  } finally {
    s.reset();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("9p server: create, write, mkdir, rename, link, symlink, unlink", () => {
  const dir = tree();
  const s = new P9Server(`${dir}/share`);
  const c = new Client(s);
  try {
    c.attach();
    c.walk(0, 1, "sub");
    c.call(P9.Tlcreate, (w) => w.u32(1).str("new.txt").u32(O_RDWR).u32(0o640).u32(0));
    const wr = c.call(P9.Twrite, (w) => w.u32(1).u64(0).u32(5).bytes(te.encode("guest")));
    assertEquals(wr.u32(), 5);
    c.call(P9.Tfsync, (w) => w.u32(1).u32(0));
    assertEquals(Deno.readTextFileSync(`${dir}/share/sub/new.txt`), "guest");
    assertEquals(Deno.statSync(`${dir}/share/sub/new.txt`).mode! & 0o777, 0o640);
    // Tsetattr: truncate and chmod through a path fid.
    c.walk(0, 2, "sub", "new.txt");
    c.call(
      P9.Tsetattr,
      (w) => w.u32(2).u32(0x1 | 0x8).u32(0o600).u32(0).u32(0).u64(2).u64(0).u64(0).u64(0).u64(0),
    );
    assertEquals(Deno.readTextFileSync(`${dir}/share/sub/new.txt`), "gu");
    assertEquals(Deno.statSync(`${dir}/share/sub/new.txt`).mode! & 0o777, 0o600);
    c.clunk(1);
    c.clunk(2);
    c.call(P9.Tmkdir, (w) => w.u32(0).str("made").u32(0o755).u32(0));
    assert(Deno.statSync(`${dir}/share/made`).isDirectory, "mkdir made a directory");
    c.call(P9.Trenameat, (w) => w.u32(0).str("made").u32(0).str("moved"));
    assert(Deno.statSync(`${dir}/share/moved`).isDirectory, "rename moved it");
    c.call(P9.Tsymlink, (w) => w.u32(0).str("ln").str("hello.txt").u32(0));
    c.walk(0, 3, "ln");
    assertEquals(c.call(P9.Treadlink, (w) => w.u32(3)).str(), "hello.txt");
    c.walk(0, 4, "hello.txt");
    c.call(P9.Tlink, (w) => w.u32(0).u32(4).str("hard"));
    assertEquals(Deno.readTextFileSync(`${dir}/share/hard`), "hello from the host");
    c.call(P9.Tmknod, (w) => w.u32(0).str("fifo").u32(0o010644).u32(0).u32(0).u32(0));
    assert(Deno.lstatSync(`${dir}/share/fifo`).isFifo, "mknod made a FIFO");
    c.walk(0, 5, "fifo");
    assertEquals(c.errno(P9.Tlopen, (w) => w.u32(5).u32(O_RDONLY)), 95, "FIFOs are not opened");
    assertEquals(c.errno(P9.Tunlinkat, (w) => w.u32(0).str("moved").u32(0)), 21);
    c.call(P9.Tunlinkat, (w) => w.u32(0).str("moved").u32(0x200));
    c.call(P9.Tunlinkat, (w) => w.u32(0).str("hard").u32(0));
    assertEquals(c.errno(P9.Tunlinkat, (w) => w.u32(0).str("sub").u32(0x200)), 39, "not empty");
    const fs = c.call(P9.Tstatfs, (w) => w.u32(0));
    fs.u32();
    assert(fs.u32() > 0, "statfs block size");
    assertEquals(c.errno(P9.Txattrwalk, (w) => w.u32(0).u32(9).str("user.x")), 61);
    assertEquals(c.errno(P9.Txattrwalk, (w) => w.u32(0).u32(9).str("")), 95);
    c.call(P9.Tflush, (w) => w.u16(1));
  } finally {
    s.reset();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("9p server: paths stay inside the shared root", () => {
  const dir = tree();
  const s = new P9Server(`${dir}/share`);
  const c = new Client(s);
  try {
    c.attach();
    assertEquals(c.walk(0, 1, "..", ".."), 2);
    c.open(1, O_RDONLY | O_DIRECTORY);
    assert(c.readdir(1).includes("hello.txt"), "'..' from the root is the root");
    const walk1 = (name: string) => (w: Writer) => w.u32(0).u32(2).u16(1).str(name);
    assertEquals(c.errno(P9.Twalk, walk1("../secret")), 22, "a name with a slash");
    // A symlink is a leaf: the walk stops there, answering one qid and making no fid.
    assertEquals(c.walk(0, 2, "etc-link", "passwd"), 1);
    assertEquals(c.errno(P9.Tgetattr, (w) => w.u32(2).u64(0x7ff)), 9, "no fid from a partial walk");
    c.walk(0, 3, "up-link");
    assertEquals(c.errno(P9.Tlopen, (w) => w.u32(3).u32(O_RDONLY)), 40, "symlinks are not opened");
    const chmod = (w: Writer) =>
      w.u32(3).u32(1).u32(0o777).u32(0).u32(0).u64(0).u64(0).u64(0).u64(0).u64(0);
    assertEquals(c.errno(P9.Tsetattr, chmod), 40, "symlinks are not followed by setattr");
    // A directory swapped for a symlink to the outside after the walk.
    c.walk(0, 4, "sub");
    Deno.renameSync(`${dir}/share/sub`, `${dir}/share/sub2`);
    Deno.symlinkSync(dir, `${dir}/share/sub`);
    const create = (w: Writer) => w.u32(4).str("escape").u32(O_RDWR).u32(0o644).u32(0);
    assertEquals(c.errno(P9.Tlcreate, create), 13);
    assertEquals(c.errno(P9.Twalk, (w) => w.u32(4).u32(5).u16(1).str("secret")), 20);
    let escaped = true;
    try {
      Deno.statSync(`${dir}/escape`);
    } catch {
      escaped = false;
    }
    assert(!escaped, "nothing was created outside the share");
    assertEquals(c.errno(P9.Tremove, (w) => w.u32(0)), 16, "the root cannot be removed");
  } finally {
    s.reset();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("9p server: malformed requests fail alone and reset closes every fid", () => {
  const dir = tree();
  const s = new P9Server(`${dir}/share`);
  const c = new Client(s);
  try {
    c.attach();
    // Truncated body: Twalk without its names.
    const bad = new Writer(P9.Twalk, 77).u32(0).u32(1).u16(3).finish();
    const r = new Reader(s.handle(bad));
    assertEquals(readHeader(r), { size: 11, type: P9.Rlerror, tag: 77 });
    assertEquals(r.u32(), 71, "EPROTO");
    assertEquals(new Reader(s.handle(Uint8Array.of(1, 2, 3))).u32(), 11, "short garbage");
    assertEquals(c.errno(P9.Tclunk, (w) => w.u32(12345)), 9);
    assertEquals(c.errno(99, (w) => w), 95, "unknown message type");
    assertEquals(c.errno(P9.Tattach, (w) => w.u32(0).u32(0).str("").str("").u32(0)), 9);
    // Reads are capped to the room for the reply.
    c.walk(0, 1, "hello.txt");
    c.open(1, O_RDONLY);
    const small = c.call(P9.Tread, (w) => w.u32(1).u64(0).u32(4096), 11 + 5);
    assertEquals(small.u32(), 5);
    c.walk(0, 2);
    c.open(2, O_RDONLY | O_DIRECTORY);
    c.readdir(2, 30);
    assertEquals(s.fidCount, 3);
    s.reset();
    assertEquals(s.fidCount, 0);
  } finally {
    s.reset();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("9p server: a read-only share refuses changes", () => {
  const dir = tree();
  const s = new P9Server(`${dir}/share`, { readOnly: true });
  const c = new Client(s);
  try {
    c.attach();
    assertEquals(c.errno(P9.Tmkdir, (w) => w.u32(0).str("x").u32(0o755).u32(0)), 30);
    c.walk(0, 1, "hello.txt");
    assertEquals(c.errno(P9.Tlopen, (w) => w.u32(1).u32(O_WRONLY)), 30);
  } finally {
    s.reset();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("9p server: no device node, no setuid or setgid bit, and a bounded fid table", () => {
  const dir = tree();
  const s = new P9Server(`${dir}/share`, { maxFids: 4 });
  const c = new Client(s);
  try {
    c.attach();
    const mknod = (name: string, mode: number, major = 0, minor = 0) => (w: Writer) =>
      w.u32(0).str(name).u32(mode).u32(major).u32(minor).u32(0);
    assertEquals(c.errno(P9.Tmknod, mknod("sda", 0o060600, 8, 0)), 1, "block device");
    assertEquals(c.errno(P9.Tmknod, mknod("mem", 0o020600, 1, 1)), 1, "character device");
    let made = true;
    try {
      Deno.lstatSync(`${dir}/share/sda`);
    } catch {
      made = false;
    }
    assert(!made, "no device node was made");
    c.call(P9.Tmknod, mknod("reg", 0o104755));
    const mode = (p: string) => Deno.statSync(`${dir}/share/${p}`).mode! & 0o7777;
    assertEquals(mode("reg"), 0o755);
    c.call(P9.Tmkdir, (w) => w.u32(0).str("sgid").u32(0o2775).u32(0));
    assertEquals(mode("sgid"), 0o775);
    c.walk(0, 1, "sgid");
    c.call(P9.Tlcreate, (w) => w.u32(1).str("suid").u32(O_RDWR).u32(0o6755).u32(0));
    assertEquals(mode("sgid/suid"), 0o755);
    c.walk(0, 2, "reg");
    const chmod = (w: Writer) =>
      w.u32(2).u32(1).u32(0o4777).u32(0).u32(0).u64(0).u64(0).u64(0).u64(0).u64(0);
    c.call(P9.Tsetattr, chmod);
    assertEquals(mode("reg"), 0o777);
    // Fids 0, 1 and 2 are held: one more fits, the fifth is refused.
    c.walk(0, 3);
    assertEquals(c.errno(P9.Twalk, (w) => w.u32(0).u32(4).u16(0)), 23);
    assertEquals(s.fidCount, 4);
  } finally {
    s.reset();
    Deno.removeSync(dir, { recursive: true });
  }
});
