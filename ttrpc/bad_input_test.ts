// Feeds the server thousands of random and mutated frames over many
// connections and checks that a well-behaved client keeps being served, that
// broken connections are closed, and that memory stays bounded.
import { toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { assert, assertEquals } from "../tests/assert.ts";
import { startEchoServer } from "./echo_testing.ts";
import { encodeRequest } from "./envelope.ts";
import { encodeFrame, HEADER_SIZE, MAX_DATA_LENGTH, MessageType, writeHeader } from "./frame.ts";
import { Echo, EchoMessageSchema } from "./gen/ttrpc/testing/echo_pb.ts";
import { FrameReader } from "./frame_reader.ts";
import { createTtrpcTransport } from "./transport.ts";
import { connectUnix } from "./transport/unix.ts";
import { writeAll } from "../common/io.ts";

/** xorshift32: reproducible randomness; the seed is printed for replay. */
function prng(seed: number) {
  let s = seed || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
  const int = (n: number) => Math.floor(next() * n);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
  return { next, int, bytes };
}

const validPayload = toBinary(EchoMessageSchema, {
  $typeName: "ttrpc.testing.EchoMessage",
  text: "fuzz",
  data: new Uint8Array([1, 2, 3]),
  sleepMs: 0,
  failCode: 0,
  replySize: 0,
});

function validRequest(): Uint8Array {
  return encodeRequest({
    service: "ttrpc.testing.Echo",
    method: "Echo",
    payload: validPayload,
    timeoutNano: 0,
    metadata: [{ key: "k", value: "v" }],
  });
}

function header(length: number, id: number, type: number, flags: number): Uint8Array {
  const h = new Uint8Array(HEADER_SIZE);
  writeHeader(h, 0, { length, streamId: id, type, flags });
  return h;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

type Rand = ReturnType<typeof prng>;

/**
 * One bad frame of a random kind. Kinds 1-5 keep the framing intact, so the
 * server must parse and answer each; kinds 6-8 break the framing and are only
 * sent last on a connection (the server can only wait for data or close).
 */
function badFrame(r: Rand, id: number, breakFraming: boolean): Uint8Array {
  switch (breakFraming ? 6 + r.int(3) : 1 + r.int(5)) {
    case 1: { // mutated envelope: flipped bytes
      const req = validRequest().slice();
      for (let i = 0, n = 1 + r.int(4); i < n; i++) req[r.int(req.length)] = r.int(256);
      return encodeFrame(id, MessageType.Request, req);
    }
    case 2: { // truncated envelope
      const req = validRequest();
      return encodeFrame(id, MessageType.Request, req.subarray(0, r.int(req.length)));
    }
    case 3: // valid envelope, garbage payload
      return encodeFrame(
        id,
        MessageType.Request,
        encodeRequest({
          service: "ttrpc.testing.Echo",
          method: "Echo",
          payload: r.bytes(r.int(40)),
          timeoutNano: r.int(3) === 0 ? -r.int(1000) : r.int(1e6),
          metadata: [],
        }),
      );
    case 4: // wrong types and flags, or a valid slow call left running when the connection ends
      if (r.int(10) === 0) {
        const slow = toBinary(EchoMessageSchema, {
          $typeName: "ttrpc.testing.EchoMessage",
          text: "",
          data: new Uint8Array(0),
          sleepMs: 5000,
          failCode: 0,
          replySize: 0,
        });
        const req = encodeRequest({
          service: "ttrpc.testing.Echo",
          method: "Echo",
          payload: slow,
          timeoutNano: 0,
          metadata: [],
        });
        return encodeFrame(id, MessageType.Request, req);
      }
      return encodeFrame(id, r.int(256), r.bytes(r.int(30)), r.int(256));
    case 5: // even, zero or reused stream ids
      return encodeFrame(r.int(3) * 2, MessageType.Request, validRequest());
    case 6: // declared length larger than what follows
      return concat([header(100 + r.int(2000), id, MessageType.Request, 0), r.bytes(r.int(100))]);
    case 7: // random bytes, often a truncated header
      return r.bytes(1 + r.int(64));
    default: // oversized declared length (only the header is sent)
      return header(MAX_DATA_LENGTH + 1 + r.int(1 << 30), id, r.int(4), 0);
  }
}

/**
 * Sends `count` bad frames on a new connection (the last one may break the
 * framing) and returns how many response frames came back.
 */
async function attack(path: string, r: Rand, count: number): Promise<number> {
  const conn = await connectUnix(path);
  const drain = (async () => {
    const reader = new FrameReader(conn);
    let responses = 0;
    try {
      while (await reader.next() !== null) responses++;
    } catch {
      // Reset by the server: expected for broken streams.
    }
    return responses;
  })();
  try {
    const frames: Uint8Array[] = [];
    for (let i = 0; i < count; i++) frames.push(badFrame(r, 2 * i + 1, i === count - 1));
    await writeAll(conn, concat(frames)).catch(() => {});
    await conn.closeWrite().catch(() => {});
    return await drain;
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

Deno.test("server survives thousands of random and mutated frames with bounded memory", async () => {
  const seed = Number(Deno.env.get("TTRPC_FUZZ_SEED") ?? Date.now() % 0xffffffff);
  console.log(`seed ${seed} (replay with TTRPC_FUZZ_SEED=${seed})`);
  const r = prng(seed);
  const srv = await startEchoServer();
  const good = createTtrpcTransport(await connectUnix(srv.path));
  const client = createClient(Echo, good);
  try {
    const rounds = 150;
    const perConnection = 70;
    const connectionsPerRound = 3; // 31,500 frames in all
    let heapAfterWarmup = 0;
    let responses = 0;
    for (let round = 0; round < rounds; round++) {
      const counts = await Promise.all(
        Array.from({ length: connectionsPerRound }, () => attack(srv.path, r, perConnection)),
      );
      responses += counts.reduce((a, b) => a + b, 0);
      const reply = await client.echo({ text: `alive ${round}` });
      assertEquals(reply.text, `alive ${round}`);
      if (round === 4) heapAfterWarmup = Deno.memoryUsage().heapUsed;
    }
    // Framing-preserving frames were parsed and mostly answered (kind 4 may be ignored or cut off).
    const sent = rounds * connectionsPerRound * perConnection;
    console.log(`${responses} responses to ${sent} bad frames`);
    assert(responses > sent * 0.6, `only ${responses} responses`);
    // Every fuzzing connection is gone; only the good client remains.
    for (let i = 0; i < 50 && srv.server.connectionCount > 1; i++) {
      await new Promise((res) => setTimeout(res, 10));
    }
    assertEquals(srv.server.connectionCount, 1);
    const growth = Deno.memoryUsage().heapUsed - heapAfterWarmup;
    assert(growth < 64 * 1024 * 1024, `heap grew by ${growth} bytes`);
    // Concurrent good calls still work.
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => client.echo({ text: String(i) })),
    );
    assertEquals(replies.map((x) => x.text), Array.from({ length: 20 }, (_, i) => String(i)));
  } finally {
    good.close();
    await srv.close();
  }
});
