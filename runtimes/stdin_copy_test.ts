import { assertEquals } from "../tests/assert.ts";
import { mkfifo } from "../tests/fifo.ts";
import { StdinCopy } from "./stdin_copy.ts";

Deno.test("stdin copy: what containerd writes reaches the sink, then EOF ends it", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    mkfifo(`${dir}/in`);
    const got: string[] = [];
    const ended = Promise.withResolvers<void>();
    new StdinCopy(`fifo://${dir}/in`, (d) => {
      got.push(new TextDecoder().decode(d));
      return Promise.resolve();
    }, ended.resolve);
    const w = await Deno.open(`${dir}/in`, { write: true });
    await w.write(new TextEncoder().encode("typed"));
    w.close();
    await ended.promise;
    assertEquals(got.join(""), "typed");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("stdin copy: closed before containerd opens the FIFO, it ends without a writer", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    mkfifo(`${dir}/in`);
    let ends = 0;
    const ended = Promise.withResolvers<void>();
    const copy = new StdinCopy(`${dir}/in`, () => Promise.resolve(), () => {
      ends++;
      ended.resolve();
    });
    copy.close();
    copy.close();
    await ended.promise;
    assertEquals(ends, 1);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("stdin copy: finish (CloseIO) lets what the client wrote before it drain first", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    mkfifo(`${dir}/in`);
    const got: string[] = [];
    const ended = Promise.withResolvers<void>();
    const release = Promise.withResolvers<void>();
    let first = true;
    const copy = new StdinCopy(`${dir}/in`, async (d) => {
      // A slow sink: the client's close and CloseIO overtake the copy.
      if (first) {
        first = false;
        await release.promise;
      }
      got.push(new TextDecoder().decode(d));
    }, ended.resolve);
    const w = await Deno.open(`${dir}/in`, { write: true });
    await w.write(new TextEncoder().encode("line one\n"));
    await new Promise((r) => setTimeout(r, 50));
    await w.write(new TextEncoder().encode("line two\n"));
    w.close();
    copy.finish();
    release.resolve();
    await ended.promise;
    assertEquals(got.join(""), "line one\nline two\n");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
