import { assert, assertEquals } from "../tests/assert.ts";
import { closeFd } from "./libc.ts";
import { closeOnExec, listenUnixInheritable, setCloseOnExec } from "./inherit.ts";

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
