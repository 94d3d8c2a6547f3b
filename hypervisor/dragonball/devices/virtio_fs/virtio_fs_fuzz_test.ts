/**
 * Fuzzing of the virtio-fs device through its queues: random bytes, random
 * opcodes with random bodies, and mutations of real requests, each with a
 * random reply room. Every reply must be well formed (the test client checks
 * the header length, the errno range and the echoed unique), no exception
 * may escape the device, nothing outside the share may change, and every fd
 * the server opened must be closed at the end.
 */
import { assert, assertEquals } from "../../../../tests/assert.ts";
import { fuseName, FuseTestClient, withNames } from "./fuse_client_testing.ts";
import { BodyWriter, OP } from "./wire.ts";
import { AT, chmodPath, closeAt, fdPath, getdents, OF, openat2 } from "../../../../ffi/fs_at.ts";

const REQUESTS = 100_000;
/** Generous for a shared 2-core machine; a hang or a per-request blow-up exceeds it. */
const BUDGET_MS = 240_000;

/** mulberry32: a small seeded generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function openFds(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

/**
 * Makes every directory below `dir` searchable and writable again and every
 * file readable (fuzzed names need not be UTF-8: walked by fd, raw names).
 */
function openUp(dir: string): void {
  const fd = openat2(AT.FDCWD, dir, OF.PATH | OF.DIRECTORY, 0, 0);
  try {
    openUpFd(fd);
  } finally {
    closeAt(fd);
  }
}

function openUpFd(dirFd: number): void {
  chmodPath(fdPath(dirFd), 0o755);
  const list = openat2(dirFd, ".", OF.DIRECTORY, 0, 0);
  try {
    for (let batch = getdents(list); batch.length > 0; batch = getdents(list)) {
      for (const e of batch) {
        if (e.type !== 4 && e.type !== 8) continue; // not a directory or a regular file
        if (e.name.length <= 2 && e.name.every((c) => c === 0x2e)) continue;
        const child = openat2(dirFd, e.name, OF.PATH | OF.NOFOLLOW, 0, 0);
        try {
          if (e.type === 4) openUpFd(child);
          else chmodPath(fdPath(child), 0o644);
        } finally {
          closeAt(child);
        }
      }
    }
  } finally {
    closeAt(list);
  }
}

function snapshot(dir: string): string {
  return [...Deno.readDirSync(dir)].map((e) => {
    const st = Deno.lstatSync(`${dir}/${e.name}`);
    return `${e.name}:${st.size}:${st.mode}:${st.mtime?.getTime()}`;
  }).sort().join(",");
}

Deno.test("virtio-fs survives 100,000 random and mutated requests with well-formed replies", () => {
  const seed = Number(Deno.env.get("VIRTIO_FS_FUZZ_SEED") ?? Date.now() % 1e9);
  const rand = rng(seed);
  const int = (n: number) => Math.floor(rand() * n);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
  const base = Deno.makeTempDirSync({ prefix: "vfs-fuzz-" });
  Deno.mkdirSync(`${base}/share/sub`, { recursive: true });
  Deno.mkdirSync(`${base}/outside`);
  Deno.writeTextFileSync(`${base}/outside/secret`, "host secret");
  Deno.writeTextFileSync(`${base}/share/file`, "contents");
  Deno.symlinkSync(`${base}/outside`, `${base}/share/out`);
  const outsideBefore = snapshot(`${base}/outside`);
  const fdsBefore = openFds();
  const c = new FuseTestClient(`${base}/share`, { maxInodes: 256, maxHandles: 64 });
  const started = performance.now();
  let replies = 0, errors = 0;
  try {
    /** A fresh session: INIT (a fuzzed FUSE_DESTROY or INIT may have ended the last), nodes, handles. */
    const session = () => {
      // Fuzzed requests may have changed modes: without root those would stick.
      openUp(`${base}/share`);
      Deno.mkdirSync(`${base}/share/sub`, { recursive: true });
      Deno.writeTextFileSync(`${base}/share/file`, "contents");
      c.init();
      const file = FuseTestClient.nodeOf(c.ok(OP.LOOKUP, 1n, fuseName("file")));
      const sub = FuseTestClient.nodeOf(c.ok(OP.LOOKUP, 1n, fuseName("sub")));
      const fh = c.ok(OP.OPEN, file, new BodyWriter().u32(2).u32(0).finish()).getBigUint64(0, true);
      const dh = c.ok(OP.OPENDIR, sub, new BodyWriter().u32(0).u32(0).finish()).getBigUint64(
        0,
        true,
      );
      const nodes = [0n, 1n, file, sub, 2n ** 64n - 1n];
      // Real requests to mutate (no fallocate or copy_file_range: a mutated length could fill the disk).
      const corpus: [number, bigint, Uint8Array][] = [
        [OP.LOOKUP, 1n, fuseName("file")],
        [OP.GETATTR, file, new BodyWriter().u32(1).u32(0).u64(fh).finish()],
        [OP.SETATTR, file, new BodyWriter().u32(1 | 16).zeros(64).u32(0o644).zeros(16).finish()],
        [OP.READ, file, new BodyWriter().u64(fh).u64(0).u32(4096).zeros(20).finish()],
        [
          OP.WRITE,
          file,
          new BodyWriter().u64(fh).u64(3).u32(4).zeros(20).bytes(new Uint8Array(4)).finish(),
        ],
        [OP.READDIRPLUS, sub, new BodyWriter().u64(dh).u64(0).u32(4096).zeros(20).finish()],
        [OP.READDIR, sub, new BodyWriter().u64(dh).u64(0).u32(4096).zeros(20).finish()],
        [OP.MKDIR, sub, withNames(new BodyWriter().u32(0o755).u32(0), "m")],
        [OP.CREATE, sub, withNames(new BodyWriter().u32(2).u32(0o644).u32(0).u32(0), "c")],
        [OP.MKNOD, sub, withNames(new BodyWriter().u32(0o010644).u32(0).u32(0).u32(0), "p")],
        [OP.SYMLINK, sub, withNames(new BodyWriter(), "s", "../../outside/secret")],
        [OP.LINK, sub, withNames(new BodyWriter().u64(file), "h")],
        [OP.RENAME2, sub, withNames(new BodyWriter().u64(sub).u32(0).u32(0), "c", "c2")],
        [OP.UNLINK, sub, fuseName("c2")],
        [
          OP.SETXATTR,
          file,
          new Uint8Array([...withNames(new BodyWriter().u32(2).u32(0), "user.a"), 1, 2]),
        ],
        [OP.GETXATTR, file, withNames(new BodyWriter().u32(64).u32(0), "user.a")],
        [OP.LISTXATTR, file, new BodyWriter().u32(256).u32(0).finish()],
        [OP.LSEEK, file, new BodyWriter().u64(fh).u64(0).u32(3).u32(0).finish()],
        [OP.STATFS, 1n, new Uint8Array(0)],
        [OP.READLINK, file, new Uint8Array(0)],
      ];
      return { nodes, corpus };
    };
    let { nodes, corpus } = session();
    const rooms = [0, 8, 16, 17, 64, 144, 4096, 65536];
    for (let i = 0; i < REQUESTS; i++) {
      if (i > 0 && i % 2000 === 0) ({ nodes, corpus } = session());
      let msg: Uint8Array;
      const kind = int(10);
      if (kind === 0) {
        msg = bytes(int(120));
      } else if (kind < 4) {
        const body = bytes(int(160));
        // Keep random bodies away from the one live handle (a random fallocate stays harmless).
        // INIT and DESTROY end the session (everything after is EIO until the next): rarely.
        let op = 1 + int(55);
        if ((op === OP.INIT || op === OP.DESTROY) && rand() > 0.05) op = OP.GETATTR;
        msg = c.message(op, nodes[int(nodes.length)], body);
      } else {
        const [op, node, body] = corpus[int(corpus.length)];
        msg = c.message(op, rand() < 0.7 ? node : nodes[int(nodes.length)], body);
        const flips = 1 + int(4);
        for (let f = 0; f < flips; f++) {
          const at = int(msg.length);
          // Mostly the body; sometimes the header's length, opcode or node.
          if (at >= 40 || rand() < 0.3) msg[at] ^= 1 << int(8);
        }
        if (rand() < 0.2) msg = msg.subarray(0, int(msg.length + 1));
      }
      if (rand() < 0.02) {
        c.hiprio(
          rand() < 0.5 ? OP.FORGET : OP.BATCH_FORGET,
          nodes[int(nodes.length)],
          msg.subarray(40),
        );
        continue;
      }
      const r = c.raw(msg, rooms[int(rooms.length)]);
      if (r.used > 0) replies++;
      if (r.error !== 0) errors++;
      if (msg.length >= 16 && r.used > 0) {
        assertEquals(r.unique, new DataView(msg.buffer, msg.byteOffset).getBigUint64(8, true));
      }
    }
    assertEquals(c.device.server.faults, 0, "no request hit a fault of the server itself");
  } finally {
    c.close();
  }
  const elapsed = performance.now() - started;
  console.log(`seed ${seed}: ${replies} replies, ${errors} errors, ${Math.round(elapsed)} ms`);
  assert(elapsed < BUDGET_MS, `fuzzing took ${elapsed} ms`);
  assert(replies > REQUESTS / 2, "most requests got a reply");
  assertEquals(snapshot(`${base}/outside`), outsideBefore, "nothing outside the share changed");
  assertEquals(Deno.readTextFileSync(`${base}/outside/secret`), "host secret");
  assertEquals(openFds(), fdsBefore, "every fd the server opened is closed");
  openUp(`${base}/share`);
  Deno.removeSync(base, { recursive: true });
});
