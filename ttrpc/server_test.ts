import { toBinary } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { assert, assertEquals } from "../tests/assert.ts";
import { startEchoServer } from "./echo_testing.ts";
import { decodeResponse, encodeRequest, type RequestEnvelope } from "./envelope.ts";
import { encodeFrame, type Frame, MAX_DATA_LENGTH, MessageType, writeHeader } from "./frame.ts";
import { FrameReader } from "./frame_reader.ts";
import { Echo, EchoMessageSchema } from "./gen/ttrpc/testing/echo_pb.ts";
import { createTtrpcTransport } from "./transport.ts";
import { connectUnix } from "./transport/unix.ts";

/** A raw connection speaking frames, to test what typed clients never send. */
async function rawConn(path: string) {
  const conn = await connectUnix(path);
  const reader = new FrameReader(conn);
  return {
    conn,
    async send(bytes: Uint8Array): Promise<void> {
      for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
    },
    async next(): Promise<Frame> {
      const f = await reader.next();
      assert(f !== null && !("oversized" in f), "expected a frame");
      return f;
    },
    async status(): Promise<[number, number, string]> {
      const f = await this.next();
      assertEquals(f.type, MessageType.Response);
      const res = decodeResponse(f.data);
      return [f.streamId, res.status?.code ?? 0, res.status?.message ?? ""];
    },
  };
}

function request(id: number, req: Partial<RequestEnvelope>): Uint8Array {
  return encodeFrame(
    id,
    MessageType.Request,
    encodeRequest({
      service: "ttrpc.testing.Echo",
      method: "Echo",
      payload: new Uint8Array(0),
      timeoutNano: 0,
      metadata: [],
      ...req,
    }),
  );
}

Deno.test("server answers protocol errors on the offending stream as Go ttrpc does", async () => {
  const srv = await startEchoServer();
  const raw = await rawConn(srv.path);
  try {
    await raw.send(request(1, { service: "no.Such" }));
    assertEquals(await raw.status(), [1, Code.Unimplemented, "service no.Such"]);
    await raw.send(request(3, { method: "Nope" }));
    assertEquals(await raw.status(), [3, Code.Unimplemented, "method Nope"]);
    await raw.send(request(4, {}));
    assertEquals(await raw.status(), [
      4,
      Code.InvalidArgument,
      "StreamID must be odd for client initiated streams",
    ]);
    await raw.send(request(3, {}));
    assertEquals(await raw.status(), [
      3,
      Code.InvalidArgument,
      "StreamID cannot be re-used and must increment",
    ]);
    await raw.send(encodeFrame(5, MessageType.Request, new Uint8Array([0x0a, 50, 1])));
    const [id, code, msg] = await raw.status();
    assertEquals([id, code], [5, Code.InvalidArgument]);
    assert(msg.startsWith("unmarshal request error: "), msg);
    await raw.send(request(7, { payload: new Uint8Array([0x0a, 9]) }));
    const bad = await raw.status();
    assertEquals([bad[0], bad[1]], [7, Code.Internal]);
    assert(bad[2].startsWith("ttrpc: error unmarshalling payload"), bad[2]);
    await raw.send(encodeFrame(99, MessageType.Data, new Uint8Array([1])));
    assertEquals(await raw.status(), [99, Code.InvalidArgument, "StreamID is no longer active"]);
    // Unknown message types are ignored; the next request is answered normally.
    await raw.send(encodeFrame(101, 0x7f, new Uint8Array([1, 2])));
    await raw.send(
      request(103, {
        payload: toBinary(EchoMessageSchema, {
          $typeName: "ttrpc.testing.EchoMessage",
          text: "ok",
          data: new Uint8Array(0),
          sleepMs: 0,
          failCode: 0,
          replySize: 0,
        }),
      }),
    );
    assertEquals(await raw.status(), [103, 0, ""]);
  } finally {
    raw.conn.close();
    await srv.close();
  }
});

Deno.test("an oversized frame gets ResourceExhausted and the connection stays open", async () => {
  const srv = await startEchoServer();
  const raw = await rawConn(srv.path);
  try {
    const header = new Uint8Array(10);
    const length = MAX_DATA_LENGTH + 10;
    writeHeader(header, 0, { length, streamId: 1, type: MessageType.Request, flags: 0 });
    await raw.send(header);
    await raw.send(new Uint8Array(length));
    assertEquals(await raw.status(), [
      1,
      Code.ResourceExhausted,
      `message length ${length} exceed maximum message size of 4194304`,
    ]);
    await raw.send(request(3, {}));
    assertEquals(await raw.status(), [3, 0, ""]);
  } finally {
    raw.conn.close();
    await srv.close();
  }
});

Deno.test("a connection that breaks mid-frame is closed; others keep working", async () => {
  const srv = await startEchoServer();
  const good = createTtrpcTransport(await connectUnix(srv.path));
  const raw = await rawConn(srv.path);
  try {
    const client = createClient(Echo, good);
    assertEquals(srv.server.connectionCount, 2);
    await raw.send(new Uint8Array([0, 0, 0, 50, 0, 0, 0, 1, 1, 0, 1, 2]));
    raw.conn.closeWrite();
    const buf = new Uint8Array(16);
    assertEquals(await raw.conn.read(buf), null, "server should close the broken connection");
    assertEquals((await client.echo({ text: "fine" })).text, "fine");
    assertEquals(srv.server.connectionCount, 1);
  } finally {
    raw.conn.close();
    good.close();
    await srv.close();
  }
});

Deno.test("shutdown() lets in-flight calls finish, then closes", async () => {
  const srv = await startEchoServer();
  const transport = createTtrpcTransport(await connectUnix(srv.path));
  try {
    const client = createClient(Echo, transport);
    const slow = client.echo({ text: "slow", sleepMs: 100 });
    await new Promise((r) => setTimeout(r, 20));
    await srv.server.shutdown();
    assertEquals((await slow).text, "slow");
    assertEquals(srv.server.connectionCount, 0);
  } finally {
    transport.close();
    await srv.close();
  }
});

Deno.test("handlers see the deadline as an aborted signal with DeadlineExceeded", async () => {
  const srv = await startEchoServer();
  const raw = await rawConn(srv.path);
  try {
    const payload = toBinary(EchoMessageSchema, {
      $typeName: "ttrpc.testing.EchoMessage",
      text: "",
      data: new Uint8Array(0),
      sleepMs: 10_000,
      failCode: 0,
      replySize: 0,
    });
    // Sent raw so that only the server enforces the deadline (30 ms).
    await raw.send(request(1, { payload, timeoutNano: 30_000_000 }));
    assertEquals(await raw.status(), [1, Code.DeadlineExceeded, "context deadline exceeded"]);
  } finally {
    raw.conn.close();
    await srv.close();
  }
});
