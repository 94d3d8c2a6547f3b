import { assertEquals, assertMatch, assertStringIncludes } from "../tests/assert.ts";
import { getLogger, setupLogging } from "./log.ts";

function memoryWriter() {
  const chunks: string[] = [];
  return {
    chunks,
    writeSync(p: Uint8Array) {
      chunks.push(new TextDecoder().decode(p));
      return p.length;
    },
  };
}

Deno.test("records carry component, sandbox and structured fields; level filters", async () => {
  const w = memoryWriter();
  const { writerSink } = await import("./log.ts");
  await setupLogging({ level: "info", sink: writerSink(w), properties: { sandbox: "sb1" } });
  const log = getLogger("hypervisor.qemu");
  log.debug("hidden");
  log.info("started VM {pid}", { pid: 42 });
  assertEquals(w.chunks.length, 1);
  const line = w.chunks[0];
  assertMatch(line, /^time="[^"]+" level=info component=hypervisor\.qemu /);
  assertStringIncludes(line, 'msg="started VM 42"');
  assertStringIncludes(line, 'sandbox="sb1"');
  assertStringIncludes(line, "pid=42");
  await setupLogging({ level: "debug", sink: writerSink(w) });
  log.debug("now visible");
  assertEquals(w.chunks.length, 2);
});

Deno.test("a broken log writer never throws into the caller", async () => {
  const { writerSink } = await import("./log.ts");
  let attempts = 0;
  const broken = {
    writeSync(): number {
      attempts++;
      throw new Error("pipe closed");
    },
  };
  await setupLogging({ level: "info", sink: writerSink(broken) });
  getLogger("shim").error("still fine");
  getLogger("shim").error("and again");
  assertEquals(attempts, 2, "each record was offered to the writer, and its failure swallowed");
  // Logging goes on once a working writer is set up again.
  const w = memoryWriter();
  await setupLogging({ level: "info", sink: writerSink(w) });
  getLogger("shim").info("recovered");
  assertEquals(w.chunks.length, 1);
  assertStringIncludes(w.chunks[0], 'msg="recovered"');
});
