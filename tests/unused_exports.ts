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
export const INTENDED_EXPORTS: ReadonlyMap<string, string> = new Map([]);

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

/** `import … from` / `export … from`, with the clause between the keyword and `from`. */
const FROM = /^\s*(import|export)\s+([^;]*?)\s*from\s*["']([^"']+)["']/gms;
const DYNAMIC_IMPORT = /\bimport\(\s*["']([^"']+)["']\s*\)/g;

/** What one file takes from one module. */
interface Taken {
  /** Names taken by name (`import { a, b as c }`, `export { a } from`). */
  names: Set<string>;
  /** Every name is taken (a namespace re-exported whole, or read dynamically). */
  all: boolean;
  /** Re-exports all of it (`export * from`): its own readers read the module too. */
  passThrough: boolean;
}

function resolve(from: string, spec: string): string | undefined {
  // The same resolution as any import (relative specifiers only).
  return importsOf(from, `import "${spec}";`)[0]?.to;
}

function namesIn(list: string): string[] {
  return list.split(",").map((p) => p.trim().replace(/^type\s+/, "").split(/\s+as\s+/)[0].trim())
    .filter(Boolean);
}

/** What `path` (source `src`) takes from each module it imports, by resolved path. */
export function takenBy(path: string, src: string): Map<string, Taken> {
  const code = withoutComments(src);
  const out = new Map<string, Taken>();
  const entry = (to: string): Taken => {
    if (!out.has(to)) out.set(to, { names: new Set(), all: false, passThrough: false });
    return out.get(to)!;
  };
  for (const m of code.matchAll(FROM)) {
    const to = resolve(path, m[3]);
    if (!to) continue;
    const t = entry(to);
    const clause = m[2].replace(/^type\s+/, "").trim();
    const braces = clause.match(/\{([^}]*)\}/);
    if (braces) { for (const n of namesIn(braces[1])) t.names.add(n); }
    const ns = clause.match(/\*\s+as\s+([\w$]+)/);
    if (m[1] === "export" && clause.startsWith("*")) {
      // `export * as ns` hands the whole module on; `export *` passes its readers through.
      if (ns || isEntryPoint(path)) t.all = true;
      else t.passThrough = true;
    } else if (ns) {
      const access = new RegExp(`(?<![\\w$])${ns[1].replace(/\$/g, "\\$")}\\.([\\w$]+)`, "g");
      for (const a of code.matchAll(access)) t.names.add(a[1]);
    }
    const def = clause.match(/^([\w$]+)\s*(?:,|$)/);
    if (m[1] === "import" && def) t.names.add("default");
  }
  for (const m of code.matchAll(DYNAMIC_IMPORT)) {
    const to = resolve(path, m[1]);
    if (to) entry(to).all = true;
  }
  return out;
}

/**
 * The exports of `product` (path → source) that no file of `all` (every
 * TypeScript file of the repository, path → source) imports: by name, through
 * a namespace (`ns.name`), a named re-export, a module that re-exports all of
 * it (`export *`), or a dynamic import (which counts as taking every name).
 * `exceptions` (`file#name` or `file#*`) are left out.
 */
export function unusedExports(
  product: ReadonlyMap<string, string>,
  all: ReadonlyMap<string, string>,
  exceptions: ReadonlyMap<string, string> = INTENDED_EXPORTS,
): UnusedExport[] {
  /** Per imported module: what each importer takes. */
  const takers = new Map<string, Map<string, Taken>>();
  for (const [path, src] of all) {
    for (const [to, t] of takenBy(path, src)) {
      if (to === path) continue;
      if (!takers.has(to)) takers.set(to, new Map());
      takers.get(to)!.set(path, t);
    }
  }
  const isTaken = (file: string, name: string, seen = new Set<string>()): boolean => {
    if (seen.has(file)) return false;
    seen.add(file);
    for (const [via, t] of takers.get(file) ?? []) {
      if (t.all || t.names.has(name)) return true;
      if (t.passThrough && isTaken(via, name, seen)) return true;
    }
    return false;
  };
  const out: UnusedExport[] = [];
  for (const [file, src] of product) {
    if (isEntryPoint(file) || exceptions.has(`${file}#*`)) continue;
    for (const name of exportedNames(src)) {
      if (exceptions.has(`${file}#${name}`)) continue;
      if (!isTaken(file, name)) out.push({ file, name });
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
