/**
 * Test tiers (see docs/architecture.md, "Tests"): unit tests beside the code need
 * neither root nor peers; a test that does says so through {@link needs}, and
 * is ignored, with the reason printed once, where its needs are not met.
 * `deno task test:unit` sets `RUNTIME_TS_TEST_TIER=unit`, which ignores every
 * such test even for root on a machine with the peers installed, so the unit
 * tier is the same set of tests everywhere.
 * @module
 */
import { exists } from "../common/fs.ts";

/** The environment variable naming the tier being run (`unit`, or unset for all). */
export const TIER_ENV = "RUNTIME_TS_TEST_TIER";

/** What a test needs beyond the unit tier. */
export interface Needs {
  /** Root (mounts, network namespaces, taps, cgroups). */
  root?: boolean;
  /** Executables that must be on PATH (QEMU, runc, iasl, ...). */
  peers?: string[];
  /** Files or devices that must exist (e.g. `/dev/vhost-vsock`). */
  paths?: string[];
}

/** Whether `name` is an executable on PATH (or an executable path). */
export function onPath(name: string): boolean {
  const dirs = name.includes("/") ? [""] : (Deno.env.get("PATH") ?? "").split(":");
  for (const d of dirs) {
    try {
      const st = Deno.statSync(d ? `${d}/${name}` : name);
      if (st.isFile && ((st.mode ?? 0) & 0o111) !== 0) return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/** Whether this process runs as root (the one place tests ask). */
export function isRoot(): boolean {
  return Deno.uid() === 0;
}

/** Why a test with these needs cannot run here (in `tier`: the one being run by default), or undefined. */
export function unmetNeeds(
  n: Needs,
  tier: string | null = Deno.env.get(TIER_ENV) ?? null,
): string | undefined {
  const wants = [
    ...(n.root ? ["root"] : []),
    ...(n.peers ?? []),
    ...(n.paths ?? []),
  ];
  if (wants.length === 0) return undefined;
  if (tier === "unit") return `unit tier: needs ${wants.join(", ")}`;
  if (n.root && !isRoot()) return "needs root";
  const missing = (n.peers ?? []).filter((p) => !onPath(p));
  if (missing.length > 0) return `needs ${missing.join(", ")} on PATH`;
  const absent = (n.paths ?? []).filter((p) => !exists(p));
  if (absent.length > 0) return `needs ${absent.join(", ")}`;
  return undefined;
}

const told = new Set<string>();

/**
 * Test options for a test that needs root or peers: `{ ignore: true }` where
 * they are missing, after printing why (once per reason), so a skipped peer
 * test says so instead of failing. Use as `Deno.test(name, needs({...}), fn)`.
 */
export function needs(n: Needs): { ignore: boolean } {
  const why = unmetNeeds(n);
  if (why && !told.has(why)) {
    told.add(why);
    console.warn(`Ignored here (${why}): tests of ${callerFile()} that need it`);
  }
  return { ignore: why !== undefined };
}

function callerFile(): string {
  const stack = new Error().stack?.split("\n") ?? [];
  const line = stack.find((l) => l.includes("_test.ts")) ?? "";
  return line.match(/([^/(]+_test\.ts)/)?.[1] ?? "this file";
}

type TestFn = (t: Deno.TestContext) => void | Promise<void>;
type TestOptions = Omit<Deno.TestDefinition, "name" | "fn">;

/** A `Deno.test` whose tests are all ignored (with the reason printed) where `n` is unmet. */
export interface PeerTest {
  (def: Deno.TestDefinition): void;
  (name: string, fn: TestFn): void;
  (name: string, options: TestOptions, fn: TestFn): void;
}

/**
 * `Deno.test` for a file of peer tests: every test needs `n` (root, peer
 * executables), and is ignored with a message where they are missing.
 * Use as `const test = testsNeeding({ root: true, peers: ["runc"] });`.
 */
export function testsNeeding(n: Needs): PeerTest {
  const unmet = needs(n).ignore;
  return (a: string | Deno.TestDefinition, b?: TestFn | TestOptions, c?: TestFn) => {
    if (typeof a !== "string") {
      return Deno.test({ ...a, ignore: unmet || (a.ignore ?? false) });
    }
    if (typeof b === "function") return Deno.test({ name: a, fn: b, ignore: unmet });
    const opts = b ?? {};
    return Deno.test({ ...opts, name: a, fn: c!, ignore: unmet || (opts.ignore ?? false) });
  };
}
