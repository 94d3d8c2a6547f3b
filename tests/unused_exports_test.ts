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

Deno.test("the check follows named imports, namespaces, re-exports, export * and import()", () => {
  const product = new Map([
    ["hypervisor/a.ts", "export function used() {}\nexport function unused() {}"],
    ["hypervisor/b.ts", "export const viaMod = 1;\nexport const onlyMentioned = 2;"],
    ["hypervisor/mod.ts", 'export { viaMod } from "./b.ts";\nexport const entry = 3;'],
    ["config/c.ts", "export type OnlyHere = string;\nconst x: OnlyHere = '';"],
    ["common/d.ts", "export const starred = 4;\nexport const notRead = 5;"],
    ["common/e.ts", 'export * from "./d.ts";'],
    ["common/f.ts", "export const read = 6;\nexport const unread = 7;"],
    ["shim/g.ts", "export function dynamicallyTaken() {}"],
  ]);
  const all = new Map([
    ...product,
    ["tests/t.ts", 'import { used } from "../hypervisor/a.ts";\nused();'],
    ["runtimes/r.ts", 'import { starred } from "../common/e.ts";\nstarred;'],
    // Naming an export without importing it from its module does not count.
    ["runtimes/s.ts", 'import { used } from "../hypervisor/a.ts";\nconst onlyMentioned = used;'],
    ["service/u.ts", 'import * as f from "../common/f.ts";\nf.read;'],
    ["main.ts", 'const g = await import("./shim/g.ts");'],
  ]);
  assertEquals(unusedExports(product, all).map((u) => `${u.file}#${u.name}`), [
    "hypervisor/a.ts#unused",
    "hypervisor/b.ts#onlyMentioned",
    "config/c.ts#OnlyHere",
    "common/d.ts#notRead",
    "common/f.ts#unread",
  ]);
});
