/**
 * The hybrid vsock device against a simulated guest driver (queues in
 * heap-backed memory) and real Unix sockets on the host side.
 */
import { assert, assertEquals, assertThrows } from "../../../../tests/assert.ts";
import { InvalidArgumentError } from "../../../../common/errors.ts";
import { GuestMemory } from "../../memory.ts";
import { TestDriver } from "../virtio/driver_testing.ts";
import { decodeHeader, encodePacket, HEADER_SIZE, OP, type VsockHeader } from "./packet.ts";
import { VirtioVsock } from "./vsock.ts";

const GUEST_CID = 3;

function guest(dev: VirtioVsock) {
  const memory = GuestMemory.fromBuffers([[0, 0x400000]]);
  const rx = new TestDriver(64, memory, 0x000000);
  const tx = new TestDriver(64, memory, 0x100000);
  const ev = new TestDriver(64, memory, 0x200000);
  dev.activate({ memory, queues: [rx.queue, tx.queue, ev.queue], features: 0n, signalUsed() {} });
  let rxSeen = 0;
  let rxBuf = 0;
  let txBuf = 0;
  return {
    /** Posts `n` receive buffers of 4 KiB + header. */
    postRx(n: number) {
      for (let i = 0; i < n; i++) {
        rx.addChain([{
          addr: 0x300000 + (rxBuf++ % 64) * 0x2000,
          len: HEADER_SIZE + 4096,
          write: true,
        }]);
      }
      dev.notify(0);
    },
    /** Packets the device has delivered since the last call. */
    received(): { h: VsockHeader; payload: string }[] {
      const out = [];
      while (rxSeen < rx.usedIdx) {
        const u = rx.used(rxSeen++);
        const addr = 0x300000 + (u.id % 64) * 0x2000;
        const bytes = memory.read(addr, u.len);
        const h = decodeHeader(bytes);
        out.push({
          h,
          payload: new TextDecoder().decode(bytes.subarray(HEADER_SIZE, HEADER_SIZE + h.len)),
        });
      }
      return out;
    },
    send(
      h: Partial<VsockHeader> & { op: number; srcPort: number; dstPort: number },
      payload?: string,
    ) {
      const body = payload ? new TextEncoder().encode(payload) : undefined;
      const pkt = encodePacket({
        srcCid: GUEST_CID,
        dstCid: 2,
        len: 0,
        type: 1,
        flags: 0,
        bufAlloc: 65536,
        fwdCnt: 0,
        ...h,
      }, body);
      const addr = 0x380000 + (txBuf++ % 64) * 0x2000;
      memory.write(addr, pkt);
      tx.addChain([{ addr, len: pkt.length }]);
      dev.notify(1);
    },
  };
}

async function until<T>(f: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function readLine(conn: Deno.Conn): Promise<string> {
  const one = new Uint8Array(1);
  let s = "";
  while ((await conn.read(one)) !== null && one[0] !== 0x0a) s += String.fromCharCode(one[0]);
  return s;
}

Deno.test("hybrid vsock: CONNECT → guest REQUEST, RESPONSE → OK line, data both ways, guest RST closes", async () => {
  const dir = await Deno.makeTempDir();
  const dev = await VirtioVsock.listen(`${dir}/v.sock`, GUEST_CID);
  try {
    const g = guest(dev);
    g.postRx(8);
    const conn = await Deno.connect({ transport: "unix", path: `${dir}/v.sock` });
    await conn.write(new TextEncoder().encode("connect 1024\n"));
    const req = await until(() => g.received().find((p) => p.h.op === OP.REQUEST), "REQUEST");
    assertEquals([req.h.dstPort, req.h.dstCid, req.h.srcCid], [1024, GUEST_CID, 2]);
    assert(req.h.srcPort >= 2 ** 30);
    const host = req.h.srcPort;
    g.send({ op: OP.RESPONSE, srcPort: 1024, dstPort: host });
    assertEquals(await readLine(conn), `OK ${host}`);
    g.send({ op: OP.RW, srcPort: 1024, dstPort: host }, "from-guest");
    const buf = new Uint8Array(64);
    const n = await conn.read(buf);
    assertEquals(new TextDecoder().decode(buf.subarray(0, n!)), "from-guest");
    await conn.write(new TextEncoder().encode("from-host"));
    const rw = await until(() => g.received().find((p) => p.h.op === OP.RW), "RW to the guest");
    assertEquals([rw.payload, rw.h.dstPort], ["from-host", 1024]);
    g.send({ op: OP.RST, srcPort: 1024, dstPort: host });
    assertEquals(await conn.read(buf), null);
    conn.close();
  } finally {
    await dev.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hybrid vsock: a guest connection goes to <uds>_<port>; an absent listener gets RST", async () => {
  const dir = await Deno.makeTempDir();
  const dev = await VirtioVsock.listen(`${dir}/v.sock`, GUEST_CID);
  const listener = Deno.listen({ transport: "unix", path: `${dir}/v.sock_1025` });
  try {
    const g = guest(dev);
    g.postRx(8);
    g.send({ op: OP.REQUEST, srcPort: 5000, dstPort: 1025 });
    const conn = await listener.accept();
    const resp = await until(() => g.received().find((p) => p.h.op === OP.RESPONSE), "RESPONSE");
    assertEquals([resp.h.srcPort, resp.h.dstPort], [1025, 5000]);
    g.send({ op: OP.RW, srcPort: 5000, dstPort: 1025 }, "hi-host");
    const buf = new Uint8Array(64);
    const n = await conn.read(buf);
    assertEquals(new TextDecoder().decode(buf.subarray(0, n!)), "hi-host");
    conn.close();
    const shut = await until(() => g.received().find((p) => p.h.op === OP.SHUTDOWN), "SHUTDOWN");
    assertEquals([shut.h.dstPort, shut.h.flags], [5000, 2]); // the host sends no more
    g.send({ op: OP.REQUEST, srcPort: 5001, dstPort: 1099 }); // nobody listens on _1099
    const rst = await until(() => g.received().find((p) => p.h.op === OP.RST), "RST");
    assertEquals(rst.h.dstPort, 5001);
    g.send({ op: OP.RST, srcPort: 5000, dstPort: 1025 });
  } finally {
    listener.close();
    await dev.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hybrid vsock: after the host half-closes, the guest's reply still reaches it", async () => {
  const dir = await Deno.makeTempDir();
  const dev = await VirtioVsock.listen(`${dir}/v.sock`, GUEST_CID);
  try {
    const g = guest(dev);
    g.postRx(8);
    const conn = await Deno.connect({ transport: "unix", path: `${dir}/v.sock` });
    await conn.write(new TextEncoder().encode("CONNECT 1024\n"));
    const req = await until(() => g.received().find((p) => p.h.op === OP.REQUEST), "REQUEST");
    const host = req.h.srcPort;
    g.send({ op: OP.RESPONSE, srcPort: 1024, dstPort: host });
    assertEquals(await readLine(conn), `OK ${host}`);
    await conn.write(new TextEncoder().encode("ping"));
    await conn.closeWrite();
    const shut = await until(() => g.received().find((p) => p.h.op === OP.SHUTDOWN), "SHUTDOWN");
    assertEquals(shut.h.flags, 2);
    g.send({ op: OP.RW, srcPort: 1024, dstPort: host }, "pong");
    g.send({ op: OP.SHUTDOWN, srcPort: 1024, dstPort: host, flags: 3 });
    const buf = new Uint8Array(16);
    const n = await conn.read(buf);
    assertEquals(new TextDecoder().decode(buf.subarray(0, n!)), "pong");
    assertEquals(await conn.read(buf), null);
    conn.close();
  } finally {
    await dev.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hybrid vsock: bad command lines are closed without reaching the guest", async () => {
  const dir = await Deno.makeTempDir();
  const dev = await VirtioVsock.listen(`${dir}/v.sock`, GUEST_CID);
  try {
    const g = guest(dev);
    g.postRx(2);
    const conn = await Deno.connect({ transport: "unix", path: `${dir}/v.sock` });
    await conn.write(new TextEncoder().encode("HELLO 1024\n"));
    assertEquals(await conn.read(new Uint8Array(8)), null);
    conn.close();
    assertEquals(g.received().length, 0);
  } finally {
    await dev.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hybrid vsock: saved CID round-trips; after restore the guest gets a transport reset", async () => {
  const dir = await Deno.makeTempDir();
  const a = await VirtioVsock.listen(`${dir}/a.sock`, GUEST_CID);
  const b = await VirtioVsock.listen(`${dir}/b.sock`, GUEST_CID);
  const other = await VirtioVsock.listen(`${dir}/c.sock`, GUEST_CID + 1);
  try {
    const saved = JSON.parse(JSON.stringify(a.saveState()));
    assertEquals(saved, { guestCid: GUEST_CID });
    assertThrows(
      () => other.restoreState(saved),
      InvalidArgumentError,
      "Saved vsock device has guest CID 3, this one 4",
    );
    b.restoreState(saved);
    const memory = GuestMemory.fromBuffers([[0, 0x400000]]);
    const queues = [0, 0x100000, 0x200000].map((base) => new TestDriver(64, memory, base));
    queues[2].addChain([{ addr: 0x300000, len: 8, write: true }]);
    memory.setU32(0x300000, 0xffff);
    let interrupts = 0;
    b.activate({
      memory,
      queues: queues.map((q) => q.queue),
      features: 0n,
      signalUsed: () => interrupts++,
    });
    b.afterRestore();
    assertEquals(queues[2].used(0), { id: 0, len: 4 });
    assertEquals(interrupts, 1);
    // Not acknowledged yet: the interrupt is raised again (a lost one must not stall the guest).
    await until(() => interrupts > 1 || undefined, "the interrupt raised again");
    assertEquals(memory.u32(0x300000), 0, "VIRTIO_VSOCK_EVENT_TRANSPORT_RESET");
    // Until the guest has handled the reset (it kicks the event queue), host connections are refused.
    const early = await Deno.connect({ transport: "unix", path: `${dir}/b.sock` });
    await early.write(new TextEncoder().encode("CONNECT 1024\n"));
    assertEquals(await early.read(new Uint8Array(8)), null, "refused while the reset is pending");
    early.close();
    b.notify(2);
    const after = interrupts;
    await new Promise((r) => setTimeout(r, 1100));
    assertEquals(interrupts, after, "no more once the guest kicked its event queue");
    const later = await Deno.connect({ transport: "unix", path: `${dir}/b.sock` });
    await later.write(new TextEncoder().encode("CONNECT 1024\n"));
    queues[0].addChain([{ addr: 0x310000, len: 4096, write: true }]);
    b.notify(0);
    await until(() => queues[0].usedIdx > 0 || undefined, "the REQUEST to the guest");
    assertEquals(decodeHeader(memory.read(0x310000, HEADER_SIZE)).op, OP.REQUEST);
    later.close();
  } finally {
    for (const d of [a, b, other]) await d.close();
    await Deno.remove(dir, { recursive: true });
  }
});
