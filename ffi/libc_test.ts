import { assertEquals, assertRejects, assertThrows } from "../tests/assert.ts";
import {
  closeFd,
  eventFd,
  MAP,
  map,
  O,
  openFd,
  PROT,
  readFd,
  readFdAsync,
  SysError,
  unmap,
  withFd,
  writeFd,
} from "./libc.ts";

Deno.test("open of a missing file names the path and errno", () => {
  const e = assertThrows(() => openFd("/nonexistent/x", O.RDONLY), SysError, "/nonexistent/x");
  assertEquals(e.errno, 2);
});

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

Deno.test("anonymous mmap is readable and writable and unmaps", () => {
  const m = map(8192, PROT.READ | PROT.WRITE, MAP.PRIVATE | MAP.ANONYMOUS);
  m.bytes[8191] = 7;
  assertEquals(m.bytes[8191], 7);
  unmap(m);
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
