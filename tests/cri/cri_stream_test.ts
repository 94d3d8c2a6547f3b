import { assertEquals, assertRejects } from "../assert.ts";
import { ChannelStream, ERROR, execExit, STDIN, STDOUT } from "./cri_stream.ts";

/** A streaming server stand-in: echoes stdin on stdout, then ends with a v4 exit status. */
function serve(protocol: string) {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req, { protocol });
    socket.binaryType = "arraybuffer";
    socket.onmessage = (e) => {
      const b = new Uint8Array(e.data as ArrayBuffer);
      if (b[0] !== STDIN) return;
      socket.send(Uint8Array.of(STDOUT, ...b.subarray(1)));
      const status = {
        status: "Failure",
        details: { causes: [{ reason: "ExitCode", message: "7" }] },
      };
      socket.send(Uint8Array.of(ERROR, ...new TextEncoder().encode(JSON.stringify(status))));
      socket.close();
    };
    return response;
  });
}

Deno.test("ChannelStream sends and receives by channel and reads v4's exit status", async () => {
  const server = serve("v4.channel.k8s.io");
  try {
    const s = await ChannelStream.open(`http://127.0.0.1:${server.addr.port}/exec/x`, 5);
    s.send(STDIN, "hello\n");
    assertEquals(await s.waitFor(STDOUT, (t) => t.includes("\n"), "the echo", 5), "hello\n");
    assertEquals((await s.end(5))?.code, 1005);
    assertEquals(execExit(s.text(ERROR)), { exitCode: 7 });
    await assertRejects(
      () => s.waitFor(STDOUT, (t) => t.includes("more"), "more", 5),
      Error,
      "closed",
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("ChannelStream fails naming the URL when the upgrade is refused", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("no such exec", { status: 404 }),
  );
  try {
    const url = `http://127.0.0.1:${server.addr.port}/exec/gone`;
    await assertRejects(() => ChannelStream.open(url, 5), Error, url);
  } finally {
    await server.shutdown();
  }
});

Deno.test("execExit reads success, an exit code and other failures", () => {
  assertEquals(execExit(`{"metadata":{},"status":"Success"}`), { exitCode: 0 });
  assertEquals(execExit(`{"status":"Failure","message":"boom"}`), { message: "boom" });
  assertEquals(execExit(""), { message: "no status" });
});
