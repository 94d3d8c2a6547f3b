import { assertEquals, assertStringIncludes } from "../tests/assert.ts";
import { findExecutable, findMissingPaths, namedPaths } from "./paths.ts";
import { parseConfigTree } from "./parse.ts";
import { fillDefaults, fillSelection } from "./adjust.ts";
import { Sources } from "./sources.ts";

Deno.test("findExecutable searches PATH for executables only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "paths-test-" });
  try {
    await Deno.writeTextFile(`${dir}/plain`, "");
    await Deno.writeTextFile(`${dir}/tool`, "#!/bin/sh\n");
    await Deno.chmod(`${dir}/tool`, 0o755);
    assertEquals(findExecutable("tool", `/nonexistent:${dir}`), `${dir}/tool`);
    assertEquals(findExecutable("plain", dir), undefined);
    assertEquals(findExecutable(`${dir}/plain`), `${dir}/plain`);
    assertEquals(findExecutable("/nonexistent/x"), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("namedPaths: Dragonball's empty path (built-in VMM) is not a host file", () => {
  const sources = new Sources("/f.toml");
  const c = parseConfigTree(
    { hypervisor: { dragonball: { kernel: "/nonexistent/k", image: "/nonexistent/i" } } },
    sources,
  );
  fillSelection(c);
  fillDefaults(c);
  const named = namedPaths(c).map((n) => n.key);
  assertEquals(named.includes("path"), false);
  const missing = findMissingPaths(c, sources);
  assertEquals(missing.map((m) => m.key), [
    "[hypervisor.dragonball] kernel",
    "[hypervisor.dragonball] image",
  ]);
  assertStringIncludes(missing[0].message, "guest kernel /nonexistent/k does not exist");
});

Deno.test("namedPaths: virtiofsd only matters with an external virtio-fs daemon", () => {
  const c = parseConfigTree(
    { hypervisor: { clh: { shared_fs: "inline-virtio-fs", virtio_fs_daemon: "/v" } } },
    new Sources("/f.toml"),
  );
  fillSelection(c);
  fillDefaults(c);
  assertEquals(namedPaths(c).some((n) => n.key === "virtio_fs_daemon"), false);
});

Deno.test("namedPaths: sandbox bind mounts drop their :ro/:rw suffix", () => {
  const c = parseConfigTree(
    { runtime: { name: "linux_container", sandbox_bind_mounts: ["/a/b:ro", "/c"] } },
    new Sources("/f.toml"),
  );
  assertEquals(namedPaths(c).filter((n) => n.what === "sandbox bind mount").map((n) => n.path), [
    "/a/b",
    "/c",
  ]);
});
