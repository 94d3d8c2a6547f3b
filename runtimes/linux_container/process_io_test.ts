import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { UnimplementedError } from "../../common/errors.ts";
import { parseStdioUri } from "./process_io.ts";

Deno.test("process io: containerd's stdio URIs", () => {
  assertEquals(parseStdioUri("/run/containerd/fifo/1/c-stdout"), {
    kind: "fifo",
    path: "/run/containerd/fifo/1/c-stdout",
  });
  assertEquals(parseStdioUri("fifo:///a/b"), { kind: "fifo", path: "/a/b" });
  assertEquals(parseStdioUri("file:///var/log/c.log"), { kind: "file", path: "/var/log/c.log" });
  const e = assertThrows(() => parseStdioUri("binary:///usr/bin/logger?x=1"), UnimplementedError);
  assertEquals(
    e.message,
    "stdio binary:///usr/bin/logger?x=1: logging binaries (binary://) are not supported",
  );
});
