import { assertEquals, assertRejects } from "../tests/assert.ts";
import { HttpConnectError, httpUnixRequest } from "./http_unix.ts";

Deno.test("http over unix: request line, headers, JSON body, Content-Length responses", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/api.sock`;
  const seen: string[] = [];
  const server = Deno.serve({ path, onListen: () => {} }, async (req) => {
    seen.push(
      `${req.method} ${new URL(req.url).pathname} ${req.headers.get("content-type")} ${await req
        .text()}`,
    );
    if (req.method === "PUT") return new Response(null, { status: 204 });
    return Response.json({ big: "x".repeat(100_000) }, { status: 200 });
  });
  try {
    const put = await httpUnixRequest(path, "PUT", "/a", { n: 1 });
    assertEquals([put.status, put.body], [204, ""]);
    const get = await httpUnixRequest(path, "GET", "/b");
    assertEquals(get.status, 200);
    assertEquals(JSON.parse(get.body).big.length, 100_000);
    assertEquals(seen, ['PUT /a application/json {"n":1}', "GET /b null "]);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("http over unix: body without Content-Length runs to close; connect failures are typed", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/raw.sock`;
  const l = Deno.listen({ transport: "unix", path });
  const served = (async () => {
    const c = await l.accept();
    await c.read(new Uint8Array(1024));
    await c.write(
      new TextEncoder().encode('HTTP/1.1 400 Bad Request\r\nX-A: b\r\n\r\n{"fault_message":"no"}'),
    );
    c.close();
  })();
  try {
    const r = await httpUnixRequest(path, "PUT", "/x", {});
    assertEquals(r, { status: 400, headers: { "x-a": "b" }, body: '{"fault_message":"no"}' });
    await served;
    await assertRejects(() => httpUnixRequest(`${dir}/absent.sock`, "GET", "/"), HttpConnectError);
  } finally {
    l.close();
    await Deno.remove(dir, { recursive: true });
  }
});
