import { assertEquals } from "../../tests/assert.ts";
import { listenUnixInheritable } from "../../ffi/inherit.ts";
import { listenInheritedFd } from "./inherited.ts";

Deno.test({
  name: "listenInheritedFd: serves a connection made before it adopted the socket",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/l.sock`;
    const fd = listenUnixInheritable(path);
    try {
      // Connected and written before anyone listens through Deno: it waits in the backlog.
      const early = await Deno.connect({ transport: "unix", path });
      await early.write(new TextEncoder().encode("ping"));
      const listener = await listenInheritedFd(fd);
      const conn = await listener.accept();
      const buf = new Uint8Array(16);
      let got = "";
      while (got.length < 4) {
        const n = await conn.read(buf);
        if (n === null) break;
        got += new TextDecoder().decode(buf.subarray(0, n));
      }
      assertEquals(got, "ping");
      assertEquals(await conn.write(new TextEncoder().encode("pong")), 4);
      const back = new Uint8Array(4);
      let off = 0;
      while (off < 4) off += (await early.read(back.subarray(off)))!;
      assertEquals(new TextDecoder().decode(back), "pong");
      early.close();
      assertEquals(await conn.read(buf), null);
      conn.close();
      listener.close();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

async function fdOpen(fd: number): Promise<boolean> {
  return await Deno.readLink(`/proc/self/fd/${fd}`).then(() => true, () => false);
}

Deno.test("listenInheritedFd: close wakes a pending accept and a pending read, then closes the fds", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/l.sock`;
  const before = [...Deno.readDirSync("/proc/self/fd")].length;
  const fd = listenUnixInheritable(path);
  try {
    const listener = await listenInheritedFd(fd);
    const client = await Deno.connect({ transport: "unix", path });
    const conn = await listener.accept();
    const pendingRead = conn.read(new Uint8Array(16));
    const pendingAccept = listener.accept();
    await new Promise((r) => setTimeout(r, 50)); // both calls are blocked in pool threads now
    listener.close();
    const err = await pendingAccept.then(() => undefined, (e) => e);
    assertEquals(err instanceof Deno.errors.BadResource, true, String(err));
    conn.close();
    assertEquals(await pendingRead, null);
    assertEquals(await conn.read(new Uint8Array(4)), null);
    assertEquals(await fdOpen(fd), false, "the listening fd is still open");
    client.close();
    // The listener, the connection and the poller's eventfd are all closed. Deno
    // closes the client's socket off the JS thread: give it a moment.
    let now = 0;
    for (let i = 0; i < 50; i++) {
      now = [...Deno.readDirSync("/proc/self/fd")].length;
      if (now === before) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assertEquals(now, before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("listenInheritedFd: a write larger than the socket buffer completes as the peer reads", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/l.sock`;
  const listener = await listenInheritedFd(listenUnixInheritable(path));
  try {
    const client = await Deno.connect({ transport: "unix", path });
    const conn = await listener.accept();
    const big = new Uint8Array(4 << 20).map((_, i) => i & 0xff);
    const writing = (async () => {
      let off = 0;
      while (off < big.length) off += await conn.write(big.subarray(off));
    })();
    const got = new Uint8Array(big.length);
    let off = 0;
    while (off < got.length) off += (await client.read(got.subarray(off)))!;
    await writing;
    assertEquals(got, big);
    conn.close();
    client.close();
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});
