import { assertEquals } from "../tests/assert.ts";
import { forwardAgentLogs, lineLevel } from "./log_forwarder.ts";

Deno.test("line levels from logfmt and kata JSON lines", () => {
  assertEquals(lineLevel('time="t" level=warning component=x msg="m"'), "warn");
  assertEquals(lineLevel('{"level":"debug","msg":"m"}'), "debug");
  assertEquals(lineLevel("no level at all"), "info");
  assertEquals(lineLevel("level=error"), "error");
});

Deno.test("lines from the log socket reach the sink, across a reconnect", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/log.sock`;
  const lines: string[] = [];
  const fwd = forwardAgentLogs({ kind: "unix", path }, (l) => lines.push(l), {
    retryIntervalMs: 10,
  });
  try {
    const listener = Deno.listen({ transport: "unix", path });
    for (const batch of [["level=info msg=a", "level=info msg=b"], ["level=info msg=c"]]) {
      const conn = await listener.accept();
      await conn.write(new TextEncoder().encode(batch.join("\n") + "\n"));
      conn.close();
    }
    while (lines.length < 3) await new Promise((r) => setTimeout(r, 10));
    assertEquals(lines, ["level=info msg=a", "level=info msg=b", "level=info msg=c"]);
    listener.close();
  } finally {
    fwd.close();
    await fwd.done;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("garbage and very long lines are cleaned and cut, and forwarding goes on", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/log.sock`;
  const lines: string[] = [];
  const fwd = forwardAgentLogs({ kind: "unix", path }, (l) => lines.push(l), {
    retryIntervalMs: 10,
    maxLineChars: 100,
  });
  try {
    const listener = Deno.listen({ transport: "unix", path });
    const conn = await listener.accept();
    const enc = new TextEncoder();
    await conn.write(enc.encode("a\x00b\x1b[2Jc\r\n"));
    await conn.write(new Uint8Array([0xff, 0xfe, 0x0a]));
    // 1 MB without a newline, in pieces, then a newline and a normal line.
    for (let i = 0; i < 16; i++) await conn.write(enc.encode("x".repeat(65536)));
    await conn.write(enc.encode("tail-of-long-line\nlevel=info msg=after\n"));
    conn.close();
    while (lines.length < 4) await new Promise((r) => setTimeout(r, 10));
    assertEquals(lines[0], "a\ufffdb\ufffd[2Jc");
    assertEquals(lines[1], "\ufffd\ufffd");
    assertEquals(lines[2], "x".repeat(100) + " [line truncated]");
    assertEquals(lines[3], "level=info msg=after");
    assertEquals(lines.length, 4);
    listener.close();
  } finally {
    fwd.close();
    await fwd.done;
    await Deno.remove(dir, { recursive: true });
  }
});
