import { assertEquals, assertThrows } from "../../../../tests/assert.ts";
import { FailedPreconditionError, InvalidArgumentError } from "../../../../common/errors.ts";
import { TestDriver } from "../virtio/driver_testing.ts";
import { Virtio9p } from "./virtio_9p.ts";
import { P9, Reader, readHeader, Writer } from "./wire.ts";

const REQ = 0x10000, REPLY = 0x20000, DATA = 0x30000;

function setup() {
  const dir = Deno.makeTempDirSync({ prefix: "v9p-" });
  Deno.writeTextFileSync(`${dir}/f`, "file contents");
  const dev = new Virtio9p("kataShared", dir);
  const d = new TestDriver();
  dev.activate(d.context(1n));
  let tag = 1;
  /** Sends a request in one readable buffer; the reply room is split in buffers of `split`. */
  const send = (type: number, fill: (w: Writer) => Writer, room = 4096, split = room) => {
    const msg = fill(new Writer(type, tag++)).finish();
    d.memory.write(REQ, msg);
    const bufs = [{ addr: REQ, len: msg.length }];
    for (let off = 0; off < room; off += split) {
      bufs.push({ addr: off === 0 ? REPLY : DATA + off, len: Math.min(split, room - off) });
    }
    d.addChain(bufs.map((b, i) => ({ ...b, write: i > 0 })));
    dev.notify(0);
    const used = d.used(d.usedIdx - 1);
    return { used, reply: d.memory.read(REPLY, Math.min(split, room)) };
  };
  return { dir, dev, d, send, signals: () => d.signals };
}

Deno.test("virtio-9p advertises its mount tag in config space", () => {
  const t = setup();
  try {
    assertEquals(t.dev.deviceType, 9);
    assertEquals(t.dev.features, 1n);
    const cfg = new Uint8Array(12);
    t.dev.readConfig(0, cfg);
    assertEquals(new DataView(cfg.buffer).getUint16(0, true), 10);
    assertEquals(new TextDecoder().decode(cfg.subarray(2)), "kataShared");
    assertThrows(() => new Virtio9p("", t.dir), InvalidArgumentError, "mount tag");
  } finally {
    t.dev.close();
    Deno.removeSync(t.dir, { recursive: true });
  }
});

Deno.test("virtio-9p serves requests from the queue, replies split across buffers", () => {
  const t = setup();
  try {
    const v = t.send(P9.Tversion, (w) => w.u32(65536).str("9P2000.L"));
    const r = new Reader(v.reply.subarray(0, v.used.len));
    assertEquals(readHeader(r).type, P9.Tversion + 1);
    assertEquals(r.u32(), 65536);
    assertEquals(t.signals(), 1);
    t.send(P9.Tattach, (w) => w.u32(0).u32(~0).str("").str("").u32(0));
    t.send(P9.Twalk, (w) => w.u32(0).u32(1).u16(1).str("f"));
    t.send(P9.Tlopen, (w) => w.u32(1).u32(0));
    // An 11-byte header buffer then the data elsewhere, as the Linux zero-copy path does.
    const rd = t.send(P9.Tread, (w) => w.u32(1).u64(0).u32(64), 11 + 64, 11);
    assertEquals(rd.used.len, 11 + 13);
    const hdr = new Reader(rd.reply);
    assertEquals([hdr.u32(), hdr.u8()], [11 + 13, P9.Tread + 1], "size counts the data");
    hdr.u16();
    assertEquals(hdr.u32(), 13);
    assertEquals(new TextDecoder().decode(t.d.memory.read(DATA + 11, 13)), "file contents");
    assertEquals(t.dev.server.fidCount, 2);
    t.dev.reset();
    assertEquals(t.dev.server.fidCount, 0, "reset clunks every fid");
  } finally {
    t.dev.close();
    Deno.removeSync(t.dir, { recursive: true });
  }
});

Deno.test("virtio-9p returns a chain without reply room unused and keeps serving", () => {
  const t = setup();
  try {
    const msg = new Writer(P9.Tversion, 1).u32(65536).str("9P2000.L").finish();
    t.d.memory.write(REQ, msg);
    t.d.addChain([{ addr: REQ, len: msg.length }]);
    t.dev.notify(0);
    assertEquals(t.d.used(0).len, 0);
    // A descriptor outside guest memory is refused for that chain alone.
    t.d.addChain([{ addr: 0x7fff0000, len: 16 }, { addr: REPLY, len: 64, write: true }]);
    t.dev.notify(0);
    assertEquals(t.d.used(1).len, 0);
    const ok = t.send(P9.Tversion, (w) => w.u32(65536).str("9P2000.L"));
    assertEquals(readHeader(new Reader(ok.reply)).type, P9.Tversion + 1);
  } finally {
    t.dev.close();
    Deno.removeSync(t.dir, { recursive: true });
  }
});

Deno.test("virtio-9p: an unmounted share saves its tag; a mounted one or another tag is refused", () => {
  const t = setup();
  try {
    const saved = JSON.parse(JSON.stringify(t.dev.saveState()));
    assertEquals(saved, { tag: "kataShared" });
    new Virtio9p("kataShared", t.dir).restoreState(saved);
    assertThrows(
      () => new Virtio9p("other", t.dir).restoreState(saved),
      InvalidArgumentError,
      'Saved 9p share has mount tag "kataShared", this one "other"',
    );
    t.send(P9.Tversion, (w) => w.u32(65536).str("9P2000.L"));
    t.send(P9.Tattach, (w) => w.u32(0).u32(~0).str("").str("").u32(0));
    assertThrows(() => t.dev.saveState(), FailedPreconditionError, "holds 1 open fids");
  } finally {
    t.dev.close();
    Deno.removeSync(t.dir, { recursive: true });
  }
});
