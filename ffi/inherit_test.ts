import { assert, assertEquals } from "../tests/assert.ts";
import { closeFd } from "./fd.ts";
import { closeOnExec, listenUnixInheritable, setCloseOnExec, unixSocketServed } from "./inherit.ts";

Deno.test("listenUnixInheritable: a child inherits the listener; close-on-exec switches", async () => {
  const dir = await Deno.makeTempDir();
  const fd = listenUnixInheritable(`${dir}/l.sock`);
  try {
    assertEquals(closeOnExec(fd), false);
    const out = await new Deno.Command("readlink", { args: [`/proc/self/fd/${fd}`] }).output();
    assert(new TextDecoder().decode(out.stdout).startsWith("socket:"), "the child lacks the fd");
    // It listens: a connection is queued without anyone accepting.
    (await Deno.connect({ transport: "unix", path: `${dir}/l.sock` })).close();
    setCloseOnExec(fd, true);
    assertEquals(closeOnExec(fd), true);
    const after = await new Deno.Command("readlink", { args: [`/proc/self/fd/${fd}`] }).output();
    assertEquals(after.success, false, "a close-on-exec fd reached the child");
  } finally {
    closeFd(fd);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("unixSocketServed: true while a listener is there, false for none or a stale file", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/probe.sock`;
  const before = [...Deno.readDirSync("/proc/self/fd")].length;
  try {
    assertEquals(unixSocketServed(path), false, "no file at all");
    const fd = listenUnixInheritable(path);
    try {
      assertEquals(unixSocketServed(path), true);
    } finally {
      closeFd(fd);
    }
    // The socket file outlives its listener: a dead shim's stale socket.
    assert(Deno.statSync(path).isSocket);
    assertEquals(unixSocketServed(path), false, "a socket file nobody listens on");
    assertEquals([...Deno.readDirSync("/proc/self/fd")].length, before, "the probe leaked an fd");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
