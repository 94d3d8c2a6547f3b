import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { UnavailableError } from "../../common/errors.ts";
import { connectUnix, listenUnix } from "./unix.ts";

Deno.test("listenUnix() replaces a stale socket file but never a live server's", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/s.sock`;
  try {
    // A socket file nobody listens on, as a process that exits without closing leaves behind
    // (Deno removes the file on close(), so the listener must die with its process).
    const { code } = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `Deno.listen({ transport: "unix", path: ${JSON.stringify(path)} }); Deno.exit(0)`,
      ],
    }).output();
    assertEquals(code, 0);
    assertEquals((await Deno.stat(path)).isSocket, true);
    await assertRejects(() => listenUnix(path), Deno.errors.AddrInUse);
    const fresh = await listenUnix(path, { replaceStale: true });
    await assertRejects(() => listenUnix(path, { replaceStale: true }), Deno.errors.AddrInUse);
    const accepted = fresh.accept();
    const conn = await connectUnix(path);
    (await accepted).close();
    conn.close();
    fresh.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("connectUnix() names the socket when nothing listens", async () => {
  const err = await assertRejects(() => connectUnix("/nonexistent/dir/t.sock"), UnavailableError);
  assertEquals(
    err.message.startsWith("Cannot connect to ttrpc socket /nonexistent/dir/t.sock: "),
    true,
  );
});
