/**
 * poll(2) for readability, run on Deno's thread pool so the JS thread never
 * blocks while an fd has nothing to read.
 * @module
 */
import { lazyLibc } from "./libc.ts";

const libc = lazyLibc({
  poll_nb: { name: "poll", parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
});

/**
 * poll(2) for readability off the JS thread: resolves with the fds from
 * `fds` that are readable (or hung up) within `timeoutMs`, or none.
 */
export async function pollReadable(fds: readonly number[], timeoutMs: number): Promise<number[]> {
  const POLLIN = 1, POLLERR = 8, POLLHUP = 0x10;
  const b = new Uint8Array(8 * fds.length);
  const v = new DataView(b.buffer);
  fds.forEach((fd, i) => {
    v.setInt32(i * 8, fd, true);
    v.setInt16(i * 8 + 4, POLLIN, true);
  });
  const rc = await libc().poll_nb(b, BigInt(fds.length), timeoutMs);
  if (rc < 0) return []; // EINTR and friends: the caller polls again
  return fds.filter((_, i) => (v.getInt16(i * 8 + 6, true) & (POLLIN | POLLERR | POLLHUP)) !== 0);
}
