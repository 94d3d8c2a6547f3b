import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { assert, assertEquals, assertRejects } from "../tests/assert.ts";
import { echoImpl, startEchoServer } from "./echo_testing.ts";
import { TtrpcServer } from "./server.ts";
import { Echo } from "./gen/ttrpc/testing/echo_pb.ts";
import { MAX_DATA_LENGTH } from "./frame.ts";
import { createTtrpcTransport } from "./transport.ts";
import { connectUnix } from "./transport/unix.ts";

async function rejectsWithCode(p: Promise<unknown>, code: Code, includes?: string) {
  const err = await assertRejects(() => p, ConnectError);
  assertEquals(Code[(err as ConnectError).code], Code[code], (err as Error).message);
  if (includes) assert((err as ConnectError).rawMessage.includes(includes), (err as Error).message);
}

Deno.test("typed client calls the server; many concurrent calls complete out of order", async () => {
  const srv = await startEchoServer();
  const transport = createTtrpcTransport(await connectUnix(srv.path));
  try {
    const client = createClient(Echo, transport);
    assertEquals((await client.echo({ text: "hi" })).text, "hi");
    // Earlier calls sleep longer, so responses come back in reverse order.
    const order: number[] = [];
    await Promise.all(
      Array.from(
        { length: 50 },
        (_, i) =>
          client.echo({ text: String(i), sleepMs: (50 - i) * 2 }).then((r) => {
            order.push(Number(r.text));
          }),
      ),
    );
    assertEquals(order.length, 50);
    assert(order[0] > order[49], `responses came in order ${order.slice(0, 5)}`);
  } finally {
    transport.close();
    await srv.close();
  }
});

Deno.test("metadata, deadlines and error codes travel both ways", async () => {
  const srv = await startEchoServer();
  const transport = createTtrpcTransport(() => connectUnix(srv.path), {
    metadata: [{ key: "echo-meta", value: "base" }],
  });
  try {
    const client = createClient(Echo, transport);
    const r = await client.echo({ text: "m" }, {
      headers: [["echo-meta", "x"], ["echo-meta", "y"]],
    });
    assertEquals(r.text, "m|base,x,y");
    // The server saw a deadline (timeout_nano) only when one was set.
    assertEquals((await client.echo({ text: "t" }, { timeoutMs: 5000 })).sleepMs, 1);
    assertEquals((await client.echo({ text: "t" })).sleepMs, 0);
    await rejectsWithCode(
      client.echo({ text: "nope", failCode: Code.NotFound }),
      Code.NotFound,
      "nope",
    );
    await rejectsWithCode(
      client.echo({ sleepMs: 10_000 }, { timeoutMs: 50 }),
      Code.DeadlineExceeded,
    );
    const ac = new AbortController();
    const call = client.echo({ sleepMs: 10_000 }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await rejectsWithCode(call, Code.Canceled);
    // The connection is still usable after local deadlines and cancellations.
    assertEquals((await client.echo({ text: "after" })).text, "after|base");
  } finally {
    transport.close();
    await srv.close();
  }
});

Deno.test("payloads near 4 MiB pass; over the limit fail on that call only", async () => {
  const srv = await startEchoServer();
  const transport = createTtrpcTransport(await connectUnix(srv.path));
  try {
    const client = createClient(Echo, transport);
    const near = new Uint8Array(MAX_DATA_LENGTH - 200).fill(3);
    assertEquals((await client.echo({ data: near })).data.length, near.length);
    await rejectsWithCode(
      client.echo({ data: new Uint8Array(MAX_DATA_LENGTH) }),
      Code.ResourceExhausted,
      "exceed maximum message size of 4194304",
    );
    await rejectsWithCode(client.echo({ replySize: MAX_DATA_LENGTH }), Code.ResourceExhausted);
    assertEquals((await client.echo({ text: "still" })).text, "still");
  } finally {
    transport.close();
    await srv.close();
  }
});

Deno.test("a dead connection fails pending and later calls with Unavailable", async () => {
  const srv = await startEchoServer();
  const fixed = createTtrpcTransport(await connectUnix(srv.path));
  const dialed = createTtrpcTransport(() => connectUnix(srv.path));
  const fixedClient = createClient(Echo, fixed);
  const dialedClient = createClient(Echo, dialed);
  try {
    assertEquals((await dialedClient.echo({ text: "1" })).text, "1");
    const pending = fixedClient.echo({ sleepMs: 10_000 });
    await new Promise((r) => setTimeout(r, 20));
    await srv.server.close(); // drops every connection, handlers cancelled
    await rejectsWithCode(pending, Code.Unavailable, "ttrpc connection closed");
    await rejectsWithCode(fixedClient.echo({}), Code.Unavailable);
    await rejectsWithCode(dialedClient.echo({}), Code.Unavailable);
  } finally {
    fixed.close();
    dialed.close();
    await srv.close();
  }
  await rejectsWithCode(
    createClient(Echo, createTtrpcTransport(() => connectUnix("/nonexistent/x.sock"))).echo({}),
    Code.Unavailable,
    "/nonexistent/x.sock",
  );
});

Deno.test("a transport built on a factory reconnects after the connection drops", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/s.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const server = new TtrpcServer().register(Echo, echoImpl);
  let dials = 0;
  const transport = createTtrpcTransport(() => {
    dials++;
    return connectUnix(path);
  });
  try {
    const client = createClient(Echo, transport);
    const first = client.echo({ text: "a" });
    const conn1 = await listener.accept();
    server.handleConnection(conn1);
    assertEquals((await first).text, "a");
    conn1.close(); // the server side drops the connection
    await new Promise((r) => setTimeout(r, 20));
    const second = client.echo({ text: "b" });
    server.handleConnection(await listener.accept());
    assertEquals((await second).text, "b");
    assertEquals(dials, 2);
  } finally {
    transport.close();
    listener.close();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("close() during a dial closes the new connection and fails the waiting call", async () => {
  const srv = await startEchoServer();
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const transport = createTtrpcTransport(async () => {
    await gate;
    return await connectUnix(srv.path);
  });
  try {
    const call = createClient(Echo, transport).echo({ text: "x" });
    transport.close();
    release();
    await rejectsWithCode(call, Code.Unavailable, "closed while connecting");
    for (let i = 0; i < 50 && srv.server.connectionCount > 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals(srv.server.connectionCount, 0);
  } finally {
    await srv.close();
  }
});
