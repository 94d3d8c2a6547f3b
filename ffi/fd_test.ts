import { assertEquals, assertRejects, assertThrows } from "../tests/assert.ts";
import { SysError } from "./errno.ts";
import { closeFd, O, openFd, readFdAsync, writeFd } from "./fd.ts";
import { eventFd } from "./eventfd.ts";

Deno.test("open of a missing file names the path and errno", () => {
  const e = assertThrows(() => openFd("/nonexistent/x", O.RDONLY), SysError, "/nonexistent/x");
  assertEquals(e.errno, 2);
});

Deno.test("close of a closed fd is an error", () => {
  const fd = openFd("/dev/null", O.RDONLY);
  closeFd(fd);
  assertThrows(() => closeFd(fd), SysError, "close");
});

Deno.test("readFdAsync waits for data off the JS thread and reports the read's own errno", async () => {
  const fd = eventFd();
  try {
    const one = new Uint8Array(8);
    new DataView(one.buffer).setBigUint64(0, 5n, true);
    const out = new Uint8Array(8);
    const reading = readFdAsync(fd, out);
    setTimeout(() => writeFd(fd, one), 20);
    assertEquals(await reading, 8);
    assertEquals(new DataView(out.buffer).getBigUint64(0, true), 5n);
    // An eventfd refuses reads of under 8 bytes (EINVAL): the errno must be the read's.
    writeFd(fd, one);
    const e = await assertRejects(() => readFdAsync(fd, new Uint8Array(4)), SysError, `fd ${fd}`);
    assertEquals(e.errno, 22);
  } finally {
    closeFd(fd);
  }
});
