import { assertEquals } from "../../../../tests/assert.ts";
import { BUF_ALLOC, hostPacket } from "./connection.ts";
import { VsockMuxer } from "./muxer.ts";
import { decodeHeader, HOST_CID, OP, TYPE_STREAM, type VsockHeader } from "./packet.ts";

function guestHeader(h: Partial<VsockHeader>): VsockHeader {
  return {
    srcCid: 3,
    dstCid: HOST_CID,
    srcPort: 5000,
    dstPort: 1024,
    len: 0,
    type: TYPE_STREAM,
    op: OP.RW,
    flags: 0,
    bufAlloc: 4096,
    fwdCnt: 0,
    ...h,
  };
}

Deno.test("vsock muxer: stray guest packets are reset, a refused guest connect is reset", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/v.sock`;
  const sent: VsockHeader[] = [];
  const mux = new VsockMuxer(
    path,
    3,
    Deno.listen({ transport: "unix", path }),
    (p) => sent.push(decodeHeader(p)),
    () => true,
  );
  try {
    mux.fromGuest(guestHeader({ op: OP.RW }), new Uint8Array());
    mux.fromGuest(guestHeader({ srcCid: 9 }), new Uint8Array());
    mux.fromGuest(guestHeader({ op: OP.RST }), new Uint8Array()); // never answered
    assertEquals(sent.map((h) => [h.op, h.srcPort, h.dstPort, h.dstCid]), [
      [OP.RST, 1024, 5000, 3],
      [OP.RST, 1024, 5000, 3],
    ]);
    // Nothing listens on <path>_1024: the guest's request is reset.
    mux.fromGuest(guestHeader({ op: OP.REQUEST }), new Uint8Array());
    for (let i = 0; i < 100 && sent.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    assertEquals(sent[2].op, OP.RST);
  } finally {
    mux.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vsock host packets carry our buffer size and the stream's ports", () => {
  const h = decodeHeader(hostPacket(3, 7, 1024, OP.REQUEST, { fwdCnt: 5 }));
  assertEquals([h.srcCid, h.dstCid, h.srcPort, h.dstPort, h.op, h.bufAlloc, h.fwdCnt], [
    HOST_CID,
    3,
    7,
    1024,
    OP.REQUEST,
    BUF_ALLOC,
    5,
  ]);
});
