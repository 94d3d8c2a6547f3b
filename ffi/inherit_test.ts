import { assert, assertEquals } from "../tests/assert.ts";
import { closeFd } from "./fd.ts";
import {
  awaitReadiness,
  closeOnExec,
  readinessPipe,
  setCloseOnExec,
  signalReady,
  unixSocketServed,
} from "./inherit.ts";
import { spawnDetached } from "./spawn.ts";

Deno.test("readinessPipe: a child inherits the write end only; close-on-exec switches", async () => {
  const p = readinessPipe();
  try {
    assertEquals(closeOnExec(p.read), true);
    assertEquals(closeOnExec(p.write), false);
    const out = await new Deno.Command("readlink", { args: [`/proc/self/fd/${p.write}`] }).output();
    assert(new TextDecoder().decode(out.stdout).startsWith("pipe:"), "the child lacks the fd");
    setCloseOnExec(p.write, true);
    const after = await new Deno.Command("readlink", { args: [`/proc/self/fd/${p.write}`] })
      .output();
    assertEquals(after.success, false, "a close-on-exec fd reached the child");
  } finally {
    closeFd(p.read);
    closeFd(p.write);
  }
});

Deno.test("awaitReadiness: ready, closed by a writer's death, timeout", () => {
  const p = readinessPipe();
  try {
    assertEquals(awaitReadiness(p.read, 0), "timeout");
    signalReady(p.write);
    assertEquals(awaitReadiness(p.read, 1000), "ready");
  } finally {
    closeFd(p.read);
  }
  // A child that holds the write end and exits without writing: the reader sees the close.
  const q = readinessPipe();
  try {
    const t0 = performance.now();
    spawnDetached({ program: "/bin/sh", args: ["-c", "sleep 0.05"], cwd: "/", env: {} });
    closeFd(q.write);
    assertEquals(awaitReadiness(q.read, 5000), "closed");
    assert(performance.now() - t0 < 4000, "the close was not seen before the bound");
  } finally {
    closeFd(q.read);
  }
});

Deno.test("unixSocketServed: true while a listener is there, false for none or a stale file", async () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/probe.sock`;
  const before = [...Deno.readDirSync("/proc/self/fd")].length;
  try {
    assertEquals(unixSocketServed(path), false, "no file at all");
    const listener = Deno.listen({ transport: "unix", path });
    try {
      assertEquals(unixSocketServed(path), true);
    } finally {
      listener.close();
    }
    // A dead shim's stale socket: its process was killed, so the file outlives its listener
    // (Deno's listener removes its file when closed).
    const code = `Deno.listen({ transport: "unix", path: ${JSON.stringify(path)} }); ` +
      `Deno.kill(Deno.pid, "SIGKILL");`;
    await new Deno.Command(Deno.execPath(), { args: ["eval", code] }).output();
    assert(Deno.statSync(path).isSocket);
    assertEquals(unixSocketServed(path), false, "a socket file nobody listens on");
    assertEquals([...Deno.readDirSync("/proc/self/fd")].length, before, "the probe leaked an fd");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
