import { assertEquals } from "../tests/assert.ts";
import { readFd, withFd, writeFd } from "./fd.ts";
import { eventFd } from "./eventfd.ts";

Deno.test("eventfd counts writes and reads back the sum", () => {
  withFd(eventFd(), (fd) => {
    const one = new Uint8Array(8);
    new DataView(one.buffer).setBigUint64(0, 3n, true);
    writeFd(fd, one);
    writeFd(fd, one);
    const out = new Uint8Array(8);
    assertEquals(readFd(fd, out), 8);
    assertEquals(new DataView(out.buffer).getBigUint64(0, true), 6n);
  });
});
