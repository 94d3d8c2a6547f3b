/**
 * How to run this very program again (for the long-running server that
 * `start` spawns): the compiled binary itself, or the Deno binary with the
 * bundle or the source entry.
 * @module
 */

/**
 * V8 flags of the long-running server (bundled and source runs; a compiled
 * binary has its flags built in). The server idles most of its life: a small
 * young generation cuts its resident memory (about 1.8 MiB private per
 * server). `--lite-mode` (no optimizing compiler) saved another 1.6 MiB but
 * cost 1.7–1.9× the server CPU per ttRPC call and half its throughput, so it
 * is not used; bench/results/footprint.md and ttrpc.md have the numbers.
 */
export const SERVER_V8_FLAGS = "--max-semi-space-size=1";

/** The program and leading arguments that re-run this shim. */
export function selfCommand(): { program: string; args: string[] } {
  // The build stamps its mode; asking buildInfo() would run git when from source.
  const stamp = (globalThis as { RUNTIME_TS_BUILD?: { mode: string } }).RUNTIME_TS_BUILD;
  const mode = stamp?.mode ?? "source";
  if (mode === "compiled") return { program: Deno.execPath(), args: [] };
  const entry = new URL(Deno.mainModule).pathname;
  const flags = ["run", "-A", "--unstable-vsock", "--quiet", `--v8-flags=${SERVER_V8_FLAGS}`];
  if (mode === "bundled") {
    return { program: Deno.execPath(), args: [...flags, "--no-config", "--no-lock", entry] };
  }
  // From source the cwd is the bundle, so name the config (import map) explicitly.
  const main = new URL("../main.ts", import.meta.url).pathname;
  const config = new URL("../deno.json", import.meta.url).pathname;
  return { program: Deno.execPath(), args: [...flags, "--config", config, main] };
}
