import { assertEquals, assertThrows } from "../tests/assert.ts";
import { UnimplementedError } from "../common/errors.ts";
import { mkfifo } from "../tests/fifo.ts";
import { openStdioOutput, parseStdioUri } from "./stdio_uri.ts";

Deno.test("stdio URIs: containerd's forms", () => {
  assertEquals(parseStdioUri("/run/containerd/fifo/1/c-stdout"), {
    kind: "fifo",
    path: "/run/containerd/fifo/1/c-stdout",
  });
  assertEquals(parseStdioUri("fifo:///a/b"), { kind: "fifo", path: "/a/b" });
  assertEquals(parseStdioUri("file:///var/log/c.log"), { kind: "file", path: "/var/log/c.log" });
  const e = assertThrows(() => parseStdioUri("binary:///usr/bin/logger?x=1"), UnimplementedError);
  assertEquals(
    e.message,
    "Stdio binary:///usr/bin/logger?x=1: logging binaries (binary://) are not supported",
  );
});

Deno.test("stdio URIs: a file output is made and appended to; a FIFO opens with no reader", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    for (const text of ["a", "b"]) {
      const f = await openStdioOutput(`file://${dir}/log`);
      await f.write(new TextEncoder().encode(text));
      f.close();
    }
    assertEquals(Deno.readTextFileSync(`${dir}/log`), "ab");
    mkfifo(`${dir}/fifo`);
    // Read-write: neither blocks for a reader nor fails once the reader is gone.
    const fifo = await openStdioOutput(`${dir}/fifo`);
    assertEquals(await fifo.write(new TextEncoder().encode("x")), 1);
    fifo.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
