/**
 * Version and build facts printed by `-version`.
 * @module
 */

/** The product version; kept in step with deno.json. */
export const VERSION = "0.1.0";
/** The binary name containerd looks up for `io.containerd.kata.v2`. */
export const BINARY_NAME = "containerd-shim-kata-v2";

/** How the running code was built. The build script sets `globalThis.RUNTIME_TS_BUILD`. */
interface BuildInfo {
  /** `compiled` (deno compile), `bundled` (one JS file run by the pinned Deno), or `source`. */
  mode: "compiled" | "bundled" | "source";
  commit: string;
}

/** Returns the build facts, asking git for the commit when running from source. */
export function buildInfo(): BuildInfo {
  const stamped = (globalThis as { RUNTIME_TS_BUILD?: BuildInfo }).RUNTIME_TS_BUILD;
  if (stamped) return stamped;
  let commit = "unknown";
  try {
    const dir = new URL("..", import.meta.url).pathname;
    const out = new Deno.Command("git", {
      args: ["-C", dir, "rev-parse", "--short=12", "HEAD"],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    if (out.success) commit = new TextDecoder().decode(out.stdout).trim();
  } catch {
    // git missing: the commit stays unknown
  }
  return { mode: "source", commit };
}

/** The multi-line text printed by `-version`. */
export function versionText(): string {
  const b = buildInfo();
  return [
    `${BINARY_NAME}:`,
    `  Version: ${VERSION}`,
    `  Git commit: ${b.commit}`,
    `  Deno: ${Deno.version.deno} (V8 ${Deno.version.v8}, TypeScript ${Deno.version.typescript})`,
    `  Build mode: ${b.mode}`,
    "",
  ].join("\n");
}
