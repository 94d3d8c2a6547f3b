import { assertEquals } from "./assert.ts";
import { productFiles } from "./layers.ts";
import { allTsFiles, exportedNames, INTENDED_EXPORTS, unusedExports } from "./unused_exports.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

Deno.test("every exported symbol of the product is imported somewhere", () => {
  const found = unusedExports(productFiles(ROOT), allTsFiles(ROOT)).map((u) =>
    `${u.file}: ${u.name}`
  );
  assertEquals(
    found,
    [],
    `Exports nothing imports (drop the export, delete the code, or list it with a reason):\n${
      found.join("\n")
    }`,
  );
});

Deno.test("each listed exception still names an export that nothing imports", () => {
  const product = productFiles(ROOT);
  const all = allTsFiles(ROOT);
  const stale: string[] = [];
  for (const key of INTENDED_EXPORTS.keys()) {
    const [file, name] = key.split("#");
    const src = product.get(file);
    if (src === undefined) {
      stale.push(`${key}: no such product file`);
      continue;
    }
    // Judge the entry as if it were not listed.
    const alone = unusedExports(new Map([[file, src]]), all, new Map())
      .filter((u) => name === "*" || u.name === name);
    if (name !== "*" && !exportedNames(src).includes(name)) stale.push(`${key}: not exported`);
    else if (alone.length === 0) stale.push(`${key}: nothing unused left to excuse`);
  }
  assertEquals(stale, [], `Stale exceptions:\n${stale.join("\n")}`);
});

Deno.test("exported names: declarations and export lists, re-exports aside", () => {
  const src = [
    "export function a() {}",
    "export async function b() {}",
    "export abstract class C {}",
    "export const D = 1;",
    "export type E = string;",
    "export interface F {}",
    "const g = 1, h = 2;",
    "export { g, h as H };",
    'export { x } from "./x.ts";',
    "function notExported() {}",
  ].join("\n");
  assertEquals(exportedNames(src).sort(), ["C", "D", "E", "F", "H", "a", "b", "g"]);
});

Deno.test("the check finds an unused export and follows imports, re-exports and export *", () => {
  const product = new Map([
    ["hypervisor/a.ts", "export function used() {}\nexport function unused() {}"],
    ["hypervisor/b.ts", "export const viaMod = 1;\nexport const viaStar = 2;"],
    ["hypervisor/mod.ts", 'export { viaMod } from "./b.ts";\nexport const entry = 3;'],
    ["config/c.ts", "export type OnlyHere = string;\nconst x: OnlyHere = '';"],
    ["common/d.ts", "export const starred = 4;"],
    ["common/e.ts", 'export * from "./d.ts";'],
  ]);
  const all = new Map([
    ...product,
    ["tests/t.ts", 'import { used } from "../hypervisor/a.ts";\nused();'],
    ["runtimes/r.ts", 'import * as e from "../common/e.ts";\ne.starred;'],
    ["runtimes/s.ts", 'import { viaStar } from "../hypervisor/a.ts";'],
  ]);
  assertEquals(unusedExports(product, all).map((u) => `${u.file}#${u.name}`), [
    "hypervisor/a.ts#unused",
    // Named by a file that imports another module: not an import of it.
    "hypervisor/b.ts#viaStar",
    "config/c.ts#OnlyHere",
  ]);
});
