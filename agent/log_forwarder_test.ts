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
