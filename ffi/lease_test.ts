import { assert, assertEquals } from "../tests/assert.ts";
import { closeFd, O, openFd } from "./fd.ts";
import { leaseBreaking, onLeaseBreak, takeReadLease } from "./lease.ts";

Deno.test("a read lease announces a truncation by another process and holds it until released", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/f`;
  await Deno.writeFile(path, new Uint8Array(8192));
  let sigio = 0;
  const stop = onLeaseBreak(() => sigio++);
  const fd = openFd(path, O.RDONLY);
  let closed = false;
  try {
    takeReadLease(fd, path);
    assertEquals(leaseBreaking(fd, path), false);
    // The shell's O_TRUNC open blocks on the lease (truncate(1) opens O_NONBLOCK and just fails).
    const truncate = new Deno.Command("sh", { args: ["-c", `: >'${path}'`] }).spawn();
    for (let i = 0; i < 100 && sigio === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert(sigio > 0, "SIGIO on the lease break");
    assertEquals(leaseBreaking(fd, path), true);
    assertEquals((await Deno.stat(path)).size, 8192, "the truncation waits for the lease");
    closeFd(fd);
    closed = true;
    assertEquals((await truncate.status).code, 0);
    assertEquals((await Deno.stat(path)).size, 0);
  } finally {
    if (!closed) closeFd(fd);
    stop();
    await Deno.remove(dir, { recursive: true });
  }
});
