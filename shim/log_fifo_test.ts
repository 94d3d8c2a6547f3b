import { assert, assertEquals } from "../tests/assert.ts";
import { mkfifo } from "../tests/fifo.ts";
import { closeFd, O, openFd, readFd } from "../ffi/fd.ts";
import { LogFifoWriter } from "./log_fifo.ts";

const enc = new TextEncoder();

function collector() {
  const lines: string[] = [];
  return {
    lines,
    writeSync(p: Uint8Array): number {
      lines.push(new TextDecoder().decode(p));
      return p.length;
    },
  };
}

function readAvailable(fd: number): string {
  const buf = new Uint8Array(1 << 16);
  try {
    return new TextDecoder().decode(buf.subarray(0, readFd(fd, buf)));
  } catch {
    return ""; // EAGAIN: nothing there
  }
}

Deno.test("log FIFO without a reader: nothing blocks, lines go to the fallback, the open is retried", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "log-fifo-" });
  const path = `${dir}/log`;
  mkfifo(path);
  const fallback = collector();
  const w = new LogFifoWriter(path, { fallback, retryMs: 20 });
  let reader = -1;
  try {
    assertEquals(w.connected, false);
    w.writeSync(enc.encode("early\n"));
    assertEquals(fallback.lines, ["early\n"]);
    // A reader arrives (containerd reopens the log): the writer attaches.
    reader = openFd(path, O.RDONLY | O.NONBLOCK);
    for (let i = 0; i < 100 && !w.connected; i++) await new Promise((r) => setTimeout(r, 10));
    assert(w.connected, "the writer never attached to the reader");
    w.writeSync(enc.encode("to the fifo\n"));
    assertEquals(readAvailable(reader), "to the fifo\n");
    // The reader goes away: the next write fails with EPIPE, falls back, retries.
    closeFd(reader);
    reader = -1;
    w.writeSync(enc.encode("after close\n"));
    assertEquals(w.connected, false);
    assertEquals(fallback.lines.at(-1), "after close\n");
  } finally {
    w.close();
    if (reader >= 0) closeFd(reader);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("log FIFO whose reader does not read: a full FIFO drops lines instead of blocking", () => {
  const dir = Deno.makeTempDirSync({ prefix: "log-fifo-" });
  const path = `${dir}/log`;
  mkfifo(path);
  const reader = openFd(path, O.RDONLY | O.NONBLOCK);
  const w = new LogFifoWriter(path, { fallback: collector() });
  try {
    assert(w.connected);
    const line = enc.encode("x".repeat(1023) + "\n");
    for (let i = 0; i < 200; i++) w.writeSync(line); // 200 KiB > the 64 KiB pipe buffer
    assert(w.dropped > 0, "nothing was dropped");
    assert(w.connected, "a slow reader is still a reader");
  } finally {
    w.close();
    closeFd(reader);
    Deno.removeSync(dir, { recursive: true });
  }
});
