/**
 * The layer rule of docs/architecture.md ("Layers") as a checker: every import
 * of a product file (static `import`/`export … from`, dynamic `import("…")`)
 * must point down the layer order, neither files nor folders may import each
 * other (directly or around a loop), and no product file imports a test or a
 * test fixture. `tests/layers_test.ts` runs it on the tree and on synthetic
 * file sets that prove it catches violations.
 * @module
 */

/** The layers, top first; folders on one line are peers. */
export const LAYERS: readonly (readonly string[])[] = [
  ["shim"],
  ["service"],
  ["runtimes"],
  ["resource", "hypervisor", "agent"],
  ["persist"],
  ["config", "ttrpc"],
  ["ffi", "common"],
];

/**
 * Peer edges the design allows: `resource` builds the devices `hypervisor`
 * defines (device types); never the reverse. Upstream's `resource` crate also
 * depends on its `agent` crate, but ours hands agent-shaped values to
 * `runtimes/`, which talks to the agent, so that edge is not allowed.
 */
export const PEER_EDGES: readonly string[] = ["resource->hypervisor"];

/**
 * Narrower rules inside the order: the service knows only the runtime
 * interface (handlers are built by `runtimes/manager.ts`), and the shim
 * reaches a VM runtime only through the manager (or, for `shim delete`,
 * `runtimes/lost_sandbox.ts`).
 */
export const FORBIDDEN: readonly { from: string; to: readonly string[]; why: string }[] = [
  {
    from: "service/",
    to: [
      "runtimes/linux_container/",
      "runtimes/virt_container/",
      "resource/",
      "hypervisor/",
      "agent/",
      "persist/",
    ],
    why: "service/ sees only the RuntimeHandler interface (runtimes/manager.ts builds handlers)",
  },
  {
    from: "shim/",
    to: ["runtimes/virt_container/", "hypervisor/", "agent/"],
    why: "shim/ reaches the VM runtime only through runtimes/manager.ts and lost_sandbox.ts",
  },
];

/** Folders that import nothing of ours. */
export const LEAVES: readonly string[] = ["ffi", "common"];

/** Top-level files above every layer. */
export const ROOT_FILES: readonly string[] = ["main.ts", "mod.ts"];

/** One import found in a file. */
export interface ImportEdge {
  /** The importing file, relative to the root (`runtimes/handler.ts`). */
  from: string;
  /** The imported file, relative to the root. */
  to: string;
  /** 1-based line of the import. */
  line: number;
}

/** A broken rule, with the reason in words. */
export interface LayerViolation {
  edge?: ImportEdge;
  message: string;
}

const STATIC = /^\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']/gms;
const BARE = /^\s*import\s*["']([^"']+)["']/gm;
const DYNAMIC = /\bimport\(\s*["']([^"']+)["']\s*\)/g;

/** Drops comment text (line comments and JSDoc/block comment lines) so examples in docs do not count. */
export function withoutComments(src: string): string {
  return src.split("\n").map((l) => {
    const t = l.trimStart();
    if (t.startsWith("//") || t.startsWith("*") || t.startsWith("/*")) return "";
    return l;
  }).join("\n");
}

/** Normalises `a/b/../c/./d.ts` to `a/c/d.ts`. */
function normalise(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return out.join("/");
}

/** The relative imports of one file (`path` relative to the root). */
export function importsOf(path: string, source: string): ImportEdge[] {
  const src = withoutComments(source);
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
  const edges: ImportEdge[] = [];
  for (const re of [STATIC, BARE, DYNAMIC]) {
    re.lastIndex = 0;
    for (const m of src.matchAll(re)) {
      const spec = m[1];
      if (!spec.startsWith("./") && !spec.startsWith("../")) continue; // npm: and bare packages
      const at = m.index! + m[0].lastIndexOf(spec);
      edges.push({
        from: path,
        to: normalise(`${dir}/${spec}`),
        line: src.slice(0, at).split("\n").length,
      });
    }
  }
  return edges;
}

/** The top-level folder of a path, or the path itself for a top-level file. */
export function folderOf(path: string): string {
  const i = path.indexOf("/");
  return i < 0 ? path : path.slice(0, i);
}

/** The folder (full directory) of a file. */
function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : path.slice(0, i);
}

function rankOf(folder: string): number {
  return LAYERS.findIndex((l) => l.includes(folder));
}

/** Whether an import from folder `from` to folder `to` keeps to the layer order. */
export function edgeAllowed(from: string, to: string): string | null {
  if (from === to) return null;
  if (ROOT_FILES.includes(to)) return `${to} is above every layer`;
  if (ROOT_FILES.includes(from)) return rankOf(to) >= 0 ? null : `${to}/ is not product code`;
  const f = rankOf(from);
  const t = rankOf(to);
  if (f < 0) return `${from}/ is not a known layer`;
  if (t < 0) return `${to}/ is not product code (tests, scripts and bench sit outside it)`;
  if (LEAVES.includes(from)) return `${from}/ imports nothing of ours`;
  if (t < f) return `${to}/ is above ${from}/`;
  if (t === f && !PEER_EDGES.includes(`${from}->${to}`)) {
    return `${to}/ is a peer of ${from}/ and peers do not import each other`;
  }
  return null;
}

/** Strongly connected components of two or more nodes (Tarjan), each sorted. */
export function cyclesOf(graph: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);
  return out;
}

function addEdge(graph: Map<string, Set<string>>, a: string, b: string): void {
  if (!graph.has(a)) graph.set(a, new Set());
  graph.get(a)!.add(b);
}

function nested(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

/**
 * Cycles between folders. A folder and its subfolders count as one unit
 * (the parent holds the shared interface and the factory that assembles the
 * children, e.g. `hypervisor/factory.ts` and `hypervisor/qemu/`), so only
 * edges between folders that do not contain one another are considered.
 */
export function folderCycles(edges: readonly ImportEdge[]): string[][] {
  const graph = new Map<string, Set<string>>();
  for (const e of edges) {
    const a = dirOf(e.from);
    const b = dirOf(e.to);
    if (!nested(a, b)) addEdge(graph, a, b);
  }
  return cyclesOf(graph);
}

/** Cycles between files (type-only imports included: they tie the modules together too). */
export function fileCycles(edges: readonly ImportEdge[]): string[][] {
  const graph = new Map<string, Set<string>>();
  for (const e of edges) addEdge(graph, e.from, e.to);
  return cyclesOf(graph);
}

/** Checks a set of product files (path relative to the root → source). */
export function checkLayers(files: ReadonlyMap<string, string>): LayerViolation[] {
  const edges = [...files].flatMap(([path, src]) => importsOf(path, src));
  const out: LayerViolation[] = [];
  for (const e of edges) {
    const why = edgeAllowed(folderOf(e.from), folderOf(e.to));
    if (why) out.push({ edge: e, message: `${e.from}:${e.line} imports ${e.to}: ${why}` });
    for (const rule of FORBIDDEN) {
      if (e.from.startsWith(rule.from) && rule.to.some((t) => e.to.startsWith(t))) {
        out.push({ edge: e, message: `${e.from}:${e.line} imports ${e.to}: ${rule.why}` });
      }
    }
  }
  for (const e of edges) {
    if (isTestFile(e.to)) {
      out.push({ edge: e, message: `${e.from}:${e.line} imports ${e.to}: a test or test fixture` });
    }
  }
  for (const c of folderCycles(edges)) {
    out.push({ message: `Folders import each other in a cycle: ${c.join(" ↔ ")}` });
  }
  for (const c of fileCycles(edges)) {
    out.push({ message: `Files import each other in a cycle: ${c.join(" ↔ ")}` });
  }
  return out;
}

/**
 * Whether a file is a test (`foo_test.ts`) or a test fixture beside the code
 * it serves (`foo_testing.ts`: fake drivers, sample values, echo servers).
 * Neither is product code, and product code imports neither.
 */
export function isTestFile(path: string): boolean {
  return path.endsWith("_test.ts") || path.endsWith("_testing.ts");
}

/** Whether a path (relative to the root) is product code the layer rule covers. */
export function isProductFile(path: string): boolean {
  if (!path.endsWith(".ts") || path.endsWith(".d.ts")) return false;
  if (isTestFile(path)) return false;
  if (path.split("/").includes("gen")) return false;
  const top = folderOf(path);
  if (ROOT_FILES.includes(path)) return true;
  return rankOf(top) >= 0;
}

/** Reads every product file under `root`. */
export function productFiles(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const e of Deno.readDirSync(rel ? `${root}/${rel}` : root)) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) {
        if (!rel && rankOf(e.name) < 0) continue; // tests/, scripts/, bench/, node_modules/, dist/
        walk(p);
      } else if (e.isFile && isProductFile(p)) {
        out.set(p, Deno.readTextFileSync(`${root}/${p}`));
      }
    }
  };
  walk("");
  return out;
}
