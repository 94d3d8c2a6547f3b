import { assertEquals, assertRejects, assertThrows } from "../../../tests/assert.ts";
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from "../../../common/errors.ts";
import type { Fingerprint } from "./fingerprint.ts";
import { newMemoryFileName, readSnapshot, snapshotPaths, writeSnapshot } from "./saved_form.ts";

const fingerprint: Fingerprint = {
  kernel: { path: "/k", size: 10, mtimeMs: 1 },
  initrd: null,
  image: null,
  vcpus: 1,
  memoryMib: 1,
  cmdline: "",
  devices: "vsock(3)",
};

async function template(): Promise<{ dir: string; paths: ReturnType<typeof snapshotPaths> }> {
  const dir = await Deno.makeTempDir({ prefix: "tmpl-" });
  const memoryFile = newMemoryFileName();
  const paths = snapshotPaths(dir, { memoryFile });
  await Deno.writeFile(paths.memory, new Uint8Array(8192));
  await writeSnapshot(dir, {
    fingerprint,
    memoryBytes: 8192,
    memoryFile,
    machine: { any: "thing" },
  });
  return { dir, paths };
}

Deno.test("saved form: written and read back with its version, fingerprint and machine", async () => {
  const { dir } = await template();
  try {
    const s = readSnapshot(dir);
    assertEquals([s.version, s.memoryBytes, s.fingerprint, s.machine], [
      1,
      8192,
      fingerprint,
      { any: "thing" },
    ]);
    assertEquals(s.memoryPath, `${dir}/${s.memoryFile}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("saved form: no template, another version or a malformed file are refused by name", async () => {
  const { dir, paths } = await template();
  try {
    const text = await Deno.readTextFile(paths.state);
    await Deno.writeTextFile(paths.state, text.replace('"version":1', '"version":7'));
    assertThrows(() => readSnapshot(dir), FailedPreconditionError, "saved-form version 7");
    await Deno.writeTextFile(paths.state, text.replace('"memoryBytes":8192', '"memoryBytes":"x"'));
    assertThrows(() => readSnapshot(dir), InvalidArgumentError, "malformed at memoryBytes");
    await Deno.writeTextFile(
      paths.state,
      text.replace(/"memoryFile":"[^"]*"/, '"memoryFile":"../etc"'),
    );
    assertThrows(() => readSnapshot(dir), InvalidArgumentError, "malformed at memoryFile");
    await Deno.writeTextFile(paths.state, "{");
    assertThrows(() => readSnapshot(dir), FailedPreconditionError, "is not JSON");
    await Deno.remove(paths.state);
    assertThrows(
      () => readSnapshot(dir),
      NotFoundError,
      `No template at ${dir} (make one with shim-ctl factory init)`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  await assertRejects(() => Deno.stat(dir), Deno.errors.NotFound);
});

Deno.test("saved form: a truncated or removed memory file is refused by name", async () => {
  const { dir, paths } = await template();
  try {
    await Deno.truncate(paths.memory, 4096);
    const e = assertThrows(() => readSnapshot(dir), FailedPreconditionError);
    assertEquals(
      e.message,
      `Template memory file ${paths.memory} is 4096 bytes, want 8192 (truncated or replaced)`,
    );
    await Deno.remove(paths.memory);
    assertThrows(() => readSnapshot(dir), NotFoundError, `has no memory file ${paths.memory}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
