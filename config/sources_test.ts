import { assertEquals } from "../tests/assert.ts";
import { isTable, mergeTable, Sources } from "./sources.ts";

Deno.test("Sources.of falls back to the nearest recorded parent, then the main file", () => {
  const s = new Sources("/main.toml");
  s.set(["runtime"], "/d/10.toml");
  s.set(["runtime", "log_level"], "annotation x");
  assertEquals(s.of(["runtime", "log_level"]), "annotation x");
  assertEquals(s.of(["runtime", "name"]), "/d/10.toml");
  assertEquals(s.of(["hypervisor", "qemu", "path"]), "/main.toml");
});

Deno.test("mergeTable merges tables key by key, replaces arrays and scalars, records origins", () => {
  const base: Record<string, unknown> = { a: { x: 1, y: [1, 2], deep: { k: "v" } }, b: 1 };
  const s = new Sources("/main.toml");
  mergeTable(base, { a: { y: [3], deep: { k2: "w" } }, c: { n: 1 } }, "/drop.toml", s);
  assertEquals(base, { a: { x: 1, y: [3], deep: { k: "v", k2: "w" } }, b: 1, c: { n: 1 } });
  assertEquals(s.of(["a", "y"]), "/drop.toml");
  assertEquals(s.of(["a", "x"]), "/main.toml");
  assertEquals(s.of(["a", "deep", "k2"]), "/drop.toml");
  assertEquals(s.of(["c", "n"]), "/drop.toml");
});

Deno.test("isTable is true only for plain tables", () => {
  assertEquals([{}, [], null, new Date(), 1, "s"].map(isTable), [
    true,
    false,
    false,
    false,
    false,
    false,
  ]);
});
