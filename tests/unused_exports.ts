/**
 * The unused-export rule: every exported symbol of a product file is imported
 * by some other file (product, test, script or bench), so the surface a
 * reader must learn is the surface that is used. Entry points (`main.ts` and
 * the `mod.ts` files, the library's face) may export what no file imports,
 * and so may the exceptions listed in {@link INTENDED_EXPORTS}, each with its
 * reason. A re-export counts as an import (a `mod.ts` that re-exports a name
 * makes it part of the library), and `export *` passes its importers on.
 * @module
 */
import { importsOf, withoutComments } from "./layers.ts";

/** One exported symbol that no other file imports. */
export interface UnusedExport {
  file: string;
  name: string;
}

/**
 * Exports that stay although no file imports them, as `file#name` → reason.
 * Keep each reason true: a name leaves this list as soon as something imports
 * it or it is no longer exported.
 */
export const INTENDED_EXPORTS: ReadonlyMap<string, string> = new Map([
  [
    "hypervisor/qemu/options.ts#*",
    "being split into config mapping and command line (issue 29, item 4); " +
    "the split settles which of its names each half exports",
  ],
  [
    "ttrpc/echo_testing.ts#EchoServer",
    "a test fixture, moving under tests/ (issue 29, item 5); its tests use the server by type",
  ],
  [
    "hypervisor/dragonball/devices/virtio/test_utils.ts#TestBuffer",
    "a test fixture, moving under tests/ (issue 29, item 5)",
  ],
]);

/**
 * Entry points: their exports are a program's or the library's face (the
 * shim's and the guest agent's `main.ts`, the `mod.ts` files).
 */
export function isEntryPoint(file: string): boolean {
  const base = file.slice(file.lastIndexOf("/") + 1);
  return base === "main.ts" || base === "mod.ts";
}

const DECLARED =
  /^export\s+(?:declare\s+)?(?:default\s+)?(?:async\s+)?(?:abstract\s+)?(?:function\*?|class|const|let|var|type|interface|enum)\s+([A-Za-z_$][\w$]*)/gm;
const LISTED = /^export\s+(?:type\s+)?\{([^}]*)\}(?!\s*from)/gm;
const STAR = /^export\s+\*\s+from\s*["']([^"']+)["']/gm;

/** The names a file exports itself (declarations and `export { a, b as c }` lists). */
export function exportedNames(source: string): string[] {
  const out = new Set<string>();
  for (const m of source.matchAll(DECLARED)) out.add(m[1]);
  for (const m of source.matchAll(LISTED)) {
    for (const part of m[1].split(",")) {
      const name = part.trim().replace(/^type\s+/, "").split(/\s+as\s+/).pop()?.trim();
      if (name) out.add(name);
    }
  }
  return [...out];
}

/**
 * The exports of `product` (path → source) that no file of `all` (every
 * TypeScript file of the repository, path → source) imports. A file imports
 * a name when it imports the exporting module (or a module that re-exports
 * all of it) and names it. `exceptions` (`file#name` or `file#*`) are left out.
 */
export function unusedExports(
  product: ReadonlyMap<string, string>,
  all: ReadonlyMap<string, string>,
  exceptions: ReadonlyMap<string, string> = INTENDED_EXPORTS,
): UnusedExport[] {
  const importers = new Map<string, Set<string>>();
  const starredBy = new Map<string, Set<string>>();
  for (const [path, src] of all) {
    for (const e of importsOf(path, src)) {
      if (!importers.has(e.to)) importers.set(e.to, new Set());
      importers.get(e.to)!.add(path);
    }
    for (const m of src.matchAll(STAR)) {
      // The same resolution as any import (relative specifiers only).
      const to = importsOf(path, `export * from "${m[1]}";`)[0]?.to;
      if (!to) continue;
      if (!starredBy.has(to)) starredBy.set(to, new Set());
      starredBy.get(to)!.add(path);
    }
  }
  const readers = (file: string, seen = new Set<string>()): Set<string> => {
    const out = new Set(importers.get(file) ?? []);
    for (const via of starredBy.get(file) ?? []) {
      if (seen.has(via)) continue;
      seen.add(via);
      for (const r of readers(via, seen)) out.add(r);
    }
    out.delete(file);
    return out;
  };
  const code = new Map<string, string>();
  const textOf = (f: string) => {
    if (!code.has(f)) code.set(f, withoutComments(all.get(f) ?? ""));
    return code.get(f)!;
  };
  const out: UnusedExport[] = [];
  for (const [file, src] of product) {
    if (isEntryPoint(file) || exceptions.has(`${file}#*`)) continue;
    const names = exportedNames(src);
    if (names.length === 0) continue;
    const who = [...readers(file)];
    for (const name of names) {
      if (exceptions.has(`${file}#${name}`)) continue;
      const word = new RegExp(`(?<![\\w$])${name.replace(/\$/g, "\\$")}(?![\\w$])`);
      if (!who.some((r) => word.test(textOf(r)))) out.push({ file, name });
    }
  }
  return out;
}

/** Every TypeScript file of the repository (path relative to `root` → source), dependencies aside. */
export function allTsFiles(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const e of Deno.readDirSync(rel ? `${root}/${rel}` : root)) {
      if (e.name === "node_modules" || e.name.startsWith(".")) continue;
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) walk(p);
      else if (e.isFile && p.endsWith(".ts")) out.set(p, Deno.readTextFileSync(`${root}/${p}`));
    }
  };
  walk("");
  return out;
}
