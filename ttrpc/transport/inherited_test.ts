import { assertEquals } from "../../tests/assert.ts";
import { closeFd } from "../../ffi/libc.ts";
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
      // node:net owns the fd once adopted and closes it with the listener.
      try {
        closeFd(fd);
      } catch {
        // closed by the listener
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});
