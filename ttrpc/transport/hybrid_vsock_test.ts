// The VMM side here is a test double of the hybrid vsock muxer protocol that
// Firecracker, Cloud Hypervisor and Dragonball implement (CONNECT <port>\n ->
// OK <host port>\n, or a close while the guest is not listening).
import { createClient } from "@connectrpc/connect";
import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { UnavailableError } from "../../common/errors.ts";
import { startEchoServer } from "../echo_testing.ts";
import { Echo } from "../gen/ttrpc/testing/echo_pb.ts";
import { createTtrpcTransport } from "../transport.ts";
import { connectHybridVsock } from "./hybrid_vsock.ts";

interface Muxer {
  path: string;
  commands: string[];
  close(): Promise<void>;
}

/**
 * A muxer that refuses the first `refusals` connections (closes them after the
 * command), then acknowledges and optionally pipes the stream to `target`.
 */
async function startMuxer(
  refusals: number,
  opts: { target?: string; extra?: Uint8Array } = {},
): Promise<Muxer> {
  const dir = await Deno.makeTempDir({ prefix: "hvsock-" });
  const path = `${dir}/v.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const commands: string[] = [];
  const conns: Deno.Conn[] = [];
  const pipes: Promise<unknown>[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      const buf = new Uint8Array(32);
      const n = await conn.read(buf) ?? 0;
      commands.push(new TextDecoder().decode(buf.subarray(0, n)));
      if (commands.length <= refusals) {
        conn.close();
        continue;
      }
      const ack = new TextEncoder().encode("OK 1073741824\n");
      const extra = opts.extra ?? new Uint8Array(0);
      const first = new Uint8Array(ack.length + extra.length);
      first.set(ack);
      first.set(extra, ack.length);
      await conn.write(first); // ack and guest bytes in one write: the dialer must not over-read
      if (opts.target) {
        const guest = await Deno.connect({ transport: "unix", path: opts.target });
        conns.push(guest);
        pipes.push(conn.readable.pipeTo(guest.writable).catch(() => {}));
        pipes.push(guest.readable.pipeTo(conn.writable).catch(() => {}));
      }
    }
  })();
  return {
    path,
    commands,
    async close() {
      listener.close();
      await loop.catch(() => {});
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // Closed by its pipe.
        }
      }
      await Promise.all(pipes);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("connectHybridVsock() retries while the guest is not listening, then stops at the OK line", async () => {
  const extra = new TextEncoder().encode("guest-bytes");
  const mux = await startMuxer(3, { extra });
  try {
    const conn = await connectHybridVsock(mux.path, 1024, { timeoutMs: 2000, retryIntervalMs: 5 });
    assertEquals(mux.commands, Array(4).fill("CONNECT 1024\n"));
    const buf = new Uint8Array(64);
    const n = await conn.read(buf);
    assertEquals(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "guest-bytes");
    conn.close();
  } finally {
    await mux.close();
  }
});

Deno.test("connectHybridVsock() gives up at the dial timeout with an error naming socket and port", async () => {
  const mux = await startMuxer(Infinity);
  try {
    const err = await assertRejects(
      () => connectHybridVsock(mux.path, 1025, { timeoutMs: 150, retryIntervalMs: 10 }),
      UnavailableError,
    );
    assert(err.message.includes(`${mux.path} port 1025`), err.message);
    assert(err.message.includes("guest not listening"), err.message);
    assert(mux.commands.length > 1, "it should have retried");
  } finally {
    await mux.close();
  }
  await assertRejects(
    () => connectHybridVsock("/nonexistent/v.sock", 1024, { timeoutMs: 50 }),
    UnavailableError,
    "/nonexistent/v.sock port 1024",
  );
});

Deno.test("ttRPC runs over a hybrid vsock connection", async () => {
  const echo = await startEchoServer();
  const mux = await startMuxer(1, { target: echo.path });
  const transport = createTtrpcTransport(() =>
    connectHybridVsock(mux.path, 1024, { timeoutMs: 2000 })
  );
  try {
    const client = createClient(Echo, transport);
    assertEquals((await client.echo({ text: "through the VMM" })).text, "through the VMM");
  } finally {
    transport.close();
    await mux.close();
    await echo.close();
  }
});
