import { assert, assertEquals, assertRejects, assertThrows } from "../../tests/assert.ts";
import { needs } from "../../tests/tier.ts";
import { isMountPoint } from "../../ffi/mount.ts";
import { parseBindMounts, sandboxBindMountsService } from "./sandbox_bind_mounts.ts";
import type { VirtSandbox } from "./sandbox.ts";

Deno.test("sandbox_bind_mounts entries: read-only by default, :rw / @rw writable, names unique", () => {
  assertEquals(
    parseBindMounts(["/a/b", "/c/d:rw", "/e/f@ro", "/g/h/"]).map((e) => [e.name, e.readOnly]),
    [
      ["b", true],
      ["d", false],
      ["f", true],
      ["h", true],
    ],
  );
  assertThrows(() => parseBindMounts(["rel/path"]));
  assertThrows(() => parseBindMounts(["/x/b", "/y/b"]));
});

Deno.test({
  name:
    "sandbox_bind_mounts binds into shared/sandbox-mounts read-only and removes only empty mount points",
  ...needs({ root: true }),
}, async () => {
  const root = await Deno.makeTempDir();
  const src = `${root}/data`;
  const shared = `${root}/sb/shared`;
  await Deno.mkdir(src);
  await Deno.writeTextFile(`${src}/keep`, "host data");
  await Deno.mkdir(shared, { recursive: true });
  const sb = { id: "sb", parts: { shareFs: { kind: "virtio-9p", layout: { hostDir: shared } } } };
  const svc = sandboxBindMountsService([src]);
  try {
    await svc.start(sb as unknown as VirtSandbox);
    const target = `${shared}/sandbox-mounts/data`;
    assert(isMountPoint(target));
    assertEquals(await Deno.readTextFile(`${target}/keep`), "host data");
    // A read-only sandbox bind mount refuses writes (EROFS: a plain Error in Deno).
    await assertRejects(
      () => Deno.writeTextFile(`${target}/new`, "x"),
      Error,
      "Read-only file system",
    );
  } finally {
    await svc.stop();
  }
  assert(!isMountPoint(`${shared}/sandbox-mounts/data`));
  assertEquals([...Deno.readDirSync(`${shared}/sandbox-mounts`)].length, 0);
  assertEquals(await Deno.readTextFile(`${src}/keep`), "host data");
  await Deno.remove(root, { recursive: true });
});

Deno.test("a sandbox without a shared file system refuses sandbox_bind_mounts", () => {
  const svc = sandboxBindMountsService(["/tmp"]);
  const sb = {
    id: "sb",
    parts: { shareFs: { kind: "none", layout: { hostDir: "/nonexistent" } } },
  };
  assertThrows(() => svc.start(sb as unknown as VirtSandbox));
});
