import { assertEquals } from "../../tests/assert.ts";
import { LogPort } from "./log_port.ts";

Deno.test("log lines reach every connected reader, in order", async () => {
  const dir = await Deno.makeTempDir();
  const port = new LogPort();
  const listener = Deno.listen({ transport: "unix", path: `${dir}/log.sock` });
  const served = port.serve(listener);
  try {
    const a = await Deno.connect({ transport: "unix", path: `${dir}/log.sock` });
    while (port.readerCount < 1) await new Promise((r) => setTimeout(r, 5));
    port.write("one");
    port.write("two\n");
    const buf = new Uint8Array(64);
    let text = "";
    while (text.split("\n").length < 3) {
      const n = await a.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    assertEquals(text, "one\ntwo\n");
    a.close();
    // A reader that went away is dropped on the next write.
    port.write("three");
    await new Promise((r) => setTimeout(r, 20));
    port.write("four");
    await new Promise((r) => setTimeout(r, 20));
    assertEquals(port.readerCount, 0);
  } finally {
    port.close();
    await served;
    await Deno.remove(dir, { recursive: true });
  }
});
