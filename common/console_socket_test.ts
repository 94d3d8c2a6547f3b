import { assert, assertEquals, assertNotEquals } from "../tests/assert.ts";
import { consoleSocketPath } from "./console_socket.ts";

Deno.test("consoleSocketPath: 64-character ids still fit a Unix socket path", () => {
  const id = "a".repeat(64);
  // The host's per-container directory (/run/kata/<id>).
  const p = consoleSocketPath(`/run/kata/${id}`, `exec-${"b".repeat(64)}`);
  assert(new TextEncoder().encode(p).length <= 107, `${p} is ${p.length} bytes`);
  assert(p.startsWith(`/run/kata/${id}/`));
});

Deno.test("consoleSocketPath: one path per process, the same each time", () => {
  assertEquals(consoleSocketPath("/d", "c/init"), consoleSocketPath("/d", "c/init"));
  assertNotEquals(consoleSocketPath("/d", "c/init"), consoleSocketPath("/d", "c/exec-1"));
});
