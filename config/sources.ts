/**
 * Remembers where each configuration value came from (a file, a drop-in, an
 * annotation), so an error can name the file that holds the offending key
 * even after drop-ins were merged.
 * @module
 */

/** A TOML table as smol-toml returns it. */
export type Table = Record<string, unknown>;

/** True for a TOML table (not an array, date or scalar). */
export function isTable(v: unknown): v is Table {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

const SEP = "\u001f";

/** Where each key path (e.g. `hypervisor.qemu.default_vcpus`) was last set. */
export class Sources {
  readonly #origin = new Map<string, string>();

  /** @param main the origin of anything not recorded otherwise (the main file). */
  constructor(readonly main: string) {}

  /** Records `origin` for `path` (a key or a table). */
  set(path: readonly (string | number)[], origin: string): void {
    this.#origin.set(path.join(SEP), origin);
  }

  /** The origin of `path`, or of its nearest recorded parent, or the main file. */
  of(path: readonly (string | number)[]): string {
    for (let n = path.length; n > 0; n--) {
      const o = this.#origin.get(path.slice(0, n).join(SEP));
      if (o !== undefined) return o;
    }
    return this.main;
  }

  /** Records `origin` for every key and table of `tree` (below `prefix`). */
  recordTree(tree: Table, origin: string, prefix: (string | number)[] = []): void {
    for (const [k, v] of Object.entries(tree)) {
      const p = [...prefix, k];
      this.set(p, origin);
      if (isTable(v)) this.recordTree(v, origin, p);
    }
  }
}

/**
 * Merges `overlay` into `base` in place, the way drop-ins are applied: tables
 * merge key by key (recursively); arrays and scalars replace. Records the
 * overlay's origin for each key it sets.
 */
export function mergeTable(
  base: Table,
  overlay: Table,
  origin: string,
  sources: Sources,
  prefix: string[] = [],
): void {
  for (const [k, v] of Object.entries(overlay)) {
    const p = [...prefix, k];
    const cur = base[k];
    if (isTable(v) && isTable(cur)) {
      mergeTable(cur, v, origin, sources, p);
      continue;
    }
    base[k] = isTable(v) ? structuredClone(v) : v;
    sources.set(p, origin);
    if (isTable(v)) sources.recordTree(v, origin, p);
  }
}
