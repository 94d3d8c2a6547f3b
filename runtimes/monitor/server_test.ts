import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { InvalidArgumentError, NotFoundError } from "../../common/errors.ts";
import { monitorRequest } from "./client.ts";
import { type MonitorBackend, monitorSocketPath, startMonitorServer } from "./server.ts";

function backend(calls: string[]): MonitorBackend {
  return {
    metrics: () => Promise.resolve("# HELP x_up Up.\n# TYPE x_up gauge\nx_up 1\n"),
    agentUrl: () => "hvsock:///run/kata/sb/kata.hvsock:1024",
    volumeStats: (p) => {
      calls.push(`stats ${p}`);
      if (p === "/missing") return Promise.reject(new NotFoundError(`No direct volume ${p}`));
      return Promise.resolve({ usage: [{ available: 1, total: 2, used: 1, unit: "BYTES" }] });
    },
    resizeVolume: (p, size) => {
      calls.push(`resize ${p} ${size}`);
      if (size === 7) return Promise.reject(new InvalidArgumentError("Size 7 is too small"));
      return Promise.resolve();
    },
  };
}

async function rawRequest(path: string, bytes: Uint8Array): Promise<string> {
  const c = await Deno.connect({ transport: "unix", path });
  try {
    await c.write(bytes).catch(() => 0);
    const buf = new Uint8Array(4096);
    const n = await c.read(buf).catch(() => null);
    return n === null ? "" : new TextDecoder().decode(buf.subarray(0, n));
  } finally {
    c.close();
  }
}

Deno.test("the management socket answers its routes and refuses bad requests with 4xx", async () => {
  const dir = await Deno.makeTempDir();
  const calls: string[] = [];
  const path = monitorSocketPath(dir);
  assertEquals(path, `${dir}/shim-monitor.sock`);
  const srv = await startMonitorServer(path, backend(calls));
  try {
    assertEquals((await Deno.lstat(path)).mode! & 0o777, 0o600);
    const m = await monitorRequest(path, "GET", "/metrics");
    assertEquals(m.status, 200);
    assert(m.headers["content-type"].startsWith("text/plain; version=0.0.4"));
    assertEquals(m.body, "# HELP x_up Up.\n# TYPE x_up gauge\nx_up 1\n");
    const u = await monitorRequest(path, "GET", "/agent-url");
    assertEquals(u.body.trim(), "hvsock:///run/kata/sb/kata.hvsock:1024");
    const s = await monitorRequest(path, "GET", "/direct-volume/stats?path=%2Fvol%2Fa");
    assertEquals(s.status, 200);
    assertEquals(JSON.parse(s.body).usage[0].total, 2);
    assertEquals(
      (await monitorRequest(
        path,
        "POST",
        "/direct-volume/resize",
        '{"volume_path":"/vol/a","size":4096}',
      )).status,
      200,
    );
    assertEquals(calls, ["stats /vol/a", "resize /vol/a 4096"]);

    const bad: [string, string, string | undefined, number][] = [
      ["GET", "/nope", undefined, 404],
      ["POST", "/metrics", "", 405],
      ["GET", "/direct-volume/stats", undefined, 400],
      ["GET", "/direct-volume/stats?path=/missing", undefined, 404],
      ["POST", "/direct-volume/resize", "{not json", 400],
      ["POST", "/direct-volume/resize", '{"volume_path":"/v"}', 400],
      ["POST", "/direct-volume/resize", '{"volume_path":"/v","size":-1}', 400],
      ["POST", "/direct-volume/resize", '{"volume_path":"/v","size":7}', 400],
      ["POST", "/direct-volume/resize", "x".repeat(70_000), 413],
    ];
    for (const [method, target, body, status] of bad) {
      const r = await monitorRequest(path, method, target, body);
      assertEquals(r.status, status, `${method} ${target}`);
      assert(r.body.trim().length > 0, `${method} ${target} explains itself`);
    }
    // A lying Content-Length and plain garbage do not take the server down.
    await rawRequest(
      path,
      new TextEncoder().encode(
        "POST /direct-volume/resize HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n{}",
      ),
    );
    const garbage = await rawRequest(path, new Uint8Array(3000).fill(0x07));
    assert(garbage === "" || garbage.startsWith("HTTP/1.1 4"), garbage.slice(0, 40));
    assertEquals((await monitorRequest(path, "GET", "/agent-url")).status, 200);
  } finally {
    await srv.close();
  }
  // Closing removes the socket.
  await assertRejects(() => Deno.lstat(path), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});
