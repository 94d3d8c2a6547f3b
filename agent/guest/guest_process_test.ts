import { InvalidArgumentError } from "../../common/errors.ts";
import { assertEquals, assertRejects, assertThrows } from "../../tests/assert.ts";
import { GuestProcess, signalName, signalNumber } from "./guest_process.ts";

const dec = new TextDecoder();

async function readAll(read: (n: number) => Promise<Uint8Array>): Promise<string> {
  let text = "";
  for (;;) {
    const chunk = await read(4);
    if (chunk.length === 0) return text;
    text += dec.decode(chunk);
  }
}

Deno.test("stdout, stderr and the exit code of a plain process", async () => {
  const p = new GuestProcess("e1", {
    cmd: "sh",
    args: ["-c", "echo out; echo err >&2; exit 7"],
    stdin: false,
  });
  assertEquals(p.state, "created");
  p.start();
  assertEquals(p.state, "running");
  const [out, err, code] = await Promise.all([
    readAll((n) => p.stdout.read(n)),
    readAll((n) => p.stderr.read(n)),
    p.wait(),
  ]);
  assertEquals([out, err, code, p.state], ["out\n", "err\n", 7, "exited"]);
  assertThrows(() => p.start(), Error, "it is exited");
  await p.close();
});

Deno.test("stdin is written and closed", async () => {
  const p = new GuestProcess("e2", { cmd: "cat", args: [], stdin: true });
  p.start();
  assertEquals(await p.writeStdin(new TextEncoder().encode("ping")), 4);
  await p.closeStdin();
  assertEquals(await readAll((n) => p.stdout.read(n)), "ping");
  assertEquals(await p.wait(), 0);
  await assertRejects(() => p.writeStdin(new Uint8Array(1)), Error, "stdin is closed");
  await p.close();
});

Deno.test("a signal death reads as 128+signal", async () => {
  const p = new GuestProcess("e3", { cmd: "sleep", args: ["30"], stdin: false });
  p.start();
  await p.signal(15);
  assertEquals(await p.wait(), 143);
  await assertRejects(() => p.signal(9), Error, "it is exited");
  await p.close();
});

Deno.test("signals go to the pid in the pid file when there is one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const pidFile = `${dir}/pid`;
    // The child writes its own pid, then waits: the signal must reach that pid.
    const p = new GuestProcess("e4", {
      cmd: "sh",
      args: ["-c", `sleep 30 & echo $! > ${pidFile}; wait $!; echo done:$?`],
      pidFile,
      stdin: false,
    });
    p.start();
    while (!(await Deno.stat(pidFile).catch(() => null))?.size) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await p.signal(9);
    assertEquals(await readAll((n) => p.stdout.read(n)), "done:137\n");
    assertEquals(await p.wait(), 0);
    await p.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("signal names and numbers", () => {
  assertEquals([signalName(9), signalName(15), signalNumber("SIGKILL")], ["SIGKILL", "SIGTERM", 9]);
  assertThrows(() => signalName(99), InvalidArgumentError, "Unknown signal number 99");
});

Deno.test("ready waits for the pid file, or for the exit when none comes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rts-ready-" });
  try {
    const pidFile = `${dir}/pid`;
    const p = new GuestProcess("r1", {
      cmd: "sh",
      args: ["-c", `sleep 0.3; echo $$ > ${pidFile}; sleep 30`],
      pidFile,
      stdin: false,
    });
    p.start();
    await p.ready();
    assertEquals(p.state, "running");
    assertEquals(await p.targetPid(), p.pid);
    await p.signal(9);
    assertEquals(await p.wait(), 137);
    await p.close();

    const failed = new GuestProcess("r2", {
      cmd: "sh",
      args: ["-c", "exit 3"],
      pidFile: `${dir}/never`,
      stdin: false,
    });
    failed.start();
    await failed.ready();
    assertEquals([failed.state, await failed.wait()], ["exited", 3]);
    await failed.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
