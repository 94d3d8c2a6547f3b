import { mkfifo } from "../../tests/fifo.ts";
import { create } from "@bufbuild/protobuf";
import { assertEquals } from "../../tests/assert.ts";
import { ReadStreamResponseSchema, WriteStreamResponseSchema } from "../../agent/gen/agent_pb.ts";
import { CallLog, RecordingAgent } from "../../tests/virt_container/doubles.ts";
import { AgentIo } from "./agent_io.ts";

Deno.test("stdio through the agent with real FIFOs: output copied, stdin written then closed at EOF (recording agent double)", async () => {
  const dir = Deno.makeTempDirSync();
  const log = new CallLog();
  const chunks = [new TextEncoder().encode("out-1 "), new TextEncoder().encode("out-2")];
  const written: string[] = [];
  const agent = new RecordingAgent(log, {
    readStdout: () =>
      Promise.resolve(
        create(ReadStreamResponseSchema, { data: chunks.shift() ?? new Uint8Array() }),
      ),
    writeStdin: (req) => {
      const data = (req as { data: Uint8Array }).data;
      written.push(new TextDecoder().decode(data));
      return Promise.resolve(create(WriteStreamResponseSchema, { len: data.length }));
    },
  });
  try {
    mkfifo(`${dir}/in`);
    mkfifo(`${dir}/out`);
    // containerd's ends: it reads the stdout FIFO and writes the stdin FIFO.
    const reader = await Deno.open(`${dir}/out`, { read: true, write: true });
    const io = await AgentIo.open(agent.api(), "c1", "", {
      stdin: `${dir}/in`,
      stdout: `${dir}/out`,
      stderr: "",
      terminal: false,
    });
    const writer = await Deno.open(`${dir}/in`, { write: true });
    await writer.write(new TextEncoder().encode("typed"));
    writer.close();
    await io.drained();
    const buf = new Uint8Array(64);
    const n = await reader.read(buf);
    assertEquals(new TextDecoder().decode(buf.subarray(0, n!)), "out-1 out-2");
    for (let i = 0; i < 200 && !log.calls.includes("agent.closeStdin"); i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assertEquals(written, ["typed"]);
    assertEquals(log.calls, ["agent.writeStdin", "agent.closeStdin"]);
    io.close();
    reader.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("closing IO before containerd opens stdin does not hang", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    mkfifo(`${dir}/in`);
    const log = new CallLog();
    const agent = new RecordingAgent(log);
    const io = await AgentIo.open(agent.api(), "c1", "e1", {
      stdin: `${dir}/in`,
      stdout: "",
      stderr: "",
      terminal: false,
    });
    io.close();
    await io.drained();
    // Closed IO tells the guest nothing more, even when asked to close stdin again.
    await io.closeStdin();
    assertEquals(log.calls, []);
    // The stdin copy's pending FIFO open is released in the background; let it settle.
    await new Promise((r) => setTimeout(r, 20));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("the output FIFO is closed at the stream's end, so containerd's reader sees EOF (CRI ExecSync waits for it)", async () => {
  const dir = Deno.makeTempDirSync();
  const chunks = [new TextEncoder().encode("done")];
  const agent = new RecordingAgent(new CallLog(), {
    readStdout: () =>
      Promise.resolve(
        create(ReadStreamResponseSchema, { data: chunks.shift() ?? new Uint8Array() }),
      ),
  });
  try {
    mkfifo(`${dir}/out`);
    // Read-only as CRI opens it (the open completes once the shim opens its end).
    const opening = Deno.open(`${dir}/out`, { read: true });
    const io = await AgentIo.open(agent.api(), "c1", "e1", {
      stdin: "",
      stdout: `${dir}/out`,
      stderr: "",
      terminal: false,
    });
    const reader = await opening;
    const text = await new Response(reader.readable).text();
    assertEquals(text, "done");
    await io.drained();
    io.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
