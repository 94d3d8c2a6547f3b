/**
 * `deno task build`: writes `dist/containerd-shim-kata-v2`.
 *
 * A real `deno compile` binary needs `denort`, which is downloaded on demand
 * and cannot be fetched on machines without that network access. So:
 * - `DENORT_BIN` set, or the download works → a compiled single binary,
 *   verified by running it (`-version` must report "compiled");
 * - otherwise → a bundled build: `deno bundle --code-splitting` output (the
 *   entry `containerd-shim-kata-v2.js` and its chunks in `js/`, one or more per
 *   action), the pinned `deno` binary beside it, and a small launcher script
 *   named like the shim.
 *   It says "bundled" in `-version`; it is never presented as compiled.
 * @module
 */

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
/** Output directory: dist/, or `RTS_BUILD_DIST` (the benchmarks build a private copy there). */
const DIST = Deno.env.get("RTS_BUILD_DIST") || `${ROOT}/dist`;
const NAME = "containerd-shim-kata-v2";
/** Flags every run of the shim needs: permissions and the vsock transport. */
const RUN_FLAGS = ["-A", "--unstable-vsock"];

async function run(cmd: string, args: string[], env?: Record<string, string>) {
  const out = await new Deno.Command(cmd, {
    args,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { ok: out.success, text };
}

async function gitCommit(): Promise<string> {
  const r = await run("git", ["-C", ROOT, "rev-parse", "--short=12", "HEAD"]);
  if (!r.ok) return "unknown";
  const dirty = await run("git", ["-C", ROOT, "status", "--porcelain", "--untracked-files=no"]);
  return r.text.trim() + (dirty.ok && dirty.text.trim() ? "-dirty" : "");
}

async function writeEntry(mode: "compiled" | "bundled", commit: string): Promise<string> {
  const entry = `${DIST}/.entry-${mode}.ts`;
  await Deno.writeTextFile(
    entry,
    `(globalThis as { RUNTIME_TS_BUILD?: unknown }).RUNTIME_TS_BUILD = ${
      JSON.stringify({ mode, commit })
    };\nimport { runMain } from ${JSON.stringify(`${ROOT}/main.ts`)};\nawait runMain();\n`,
  );
  return entry;
}

async function tryCompile(commit: string): Promise<string | undefined> {
  const entry = await writeEntry("compiled", commit);
  const out = `${DIST}/${NAME}`;
  await Deno.remove(out).catch(() => {});
  const env: Record<string, string> = {};
  if (Deno.env.get("DENORT_BIN")) env.DENORT_BIN = Deno.env.get("DENORT_BIN")!;
  const r = await run(Deno.execPath(), [
    "compile",
    ...RUN_FLAGS,
    "--no-check",
    "--config",
    `${ROOT}/deno.json`,
    "-o",
    out,
    entry,
  ], env);
  if (!r.ok) {
    if (/Setting up base binary|denort/i.test(r.text)) {
      return "deno compile could not get denort (DENORT_BIN unset and the download failed)";
    }
    const reason = r.text.split("\n").find((l) => l.startsWith("error")) ?? r.text.trim();
    return `deno compile failed: ${reason.trim()}`;
  }
  // A DENORT_BIN that is really the full deno CLI yields a binary that behaves
  // as the CLI, not as the app: accept the result only if it runs as the shim.
  const v = await run(out, ["-version"]);
  if (!v.ok || !v.text.includes("Build mode: compiled")) {
    await Deno.remove(out).catch(() => {});
    return "the compiled binary did not run as the shim (DENORT_BIN is not a denort runtime?)";
  }
  return undefined;
}

async function bundle(commit: string): Promise<void> {
  const entry = await writeEntry("bundled", commit);
  // Code splitting: each action's modules (main.ts imports them lazily) go into their own
  // chunks under js/, so `-version`, `start` or `delete` parse only their own code instead
  // of the whole 1.9 MB program (bench/results/startup.md has the per-action start-up),
  // once hideLazyImports below keeps Deno from loading every chunk up front.
  const chunks = `${DIST}/js`;
  await Deno.remove(chunks, { recursive: true }).catch(() => {});
  // Platform "browser" only changes which export condition a package's files are picked
  // by: under "deno" esbuild takes Node's, and @logtape/logtape's Node variant imports
  // node:util, whose compat layer costs the server about 15 ms at start-up. The module
  // list is otherwise identical (checked when this was chosen).
  const r = await run(Deno.execPath(), [
    "bundle",
    "--platform",
    "browser",
    "--config",
    `${ROOT}/deno.json`,
    "--code-splitting",
    "--outdir",
    chunks,
    entry,
  ]);
  if (!r.ok) throw new Error(`deno bundle failed:\n${r.text}`);
  await Deno.rename(`${chunks}/.entry-bundled.js`, `${chunks}/main.js`);
  await hideLazyImports(chunks);
  // The program's entry keeps its name; it only pulls in the entry chunk.
  await Deno.writeTextFile(`${DIST}/${NAME}.js`, `import "./js/main.js";\n`);
  const deno = `${DIST}/deno`;
  await Deno.remove(deno).catch(() => {});
  try {
    await Deno.link(Deno.execPath(), deno);
  } catch {
    await Deno.copyFile(Deno.execPath(), deno);
  }
  const launcher = `${DIST}/${NAME}`;
  await Deno.writeTextFile(
    launcher,
    `#!/bin/sh
# ${NAME} launcher: a BUNDLED build (JS files run by the pinned Deno beside
# it), not a compiled binary; see README "Build".
# Shell built-ins where the launcher is run in place (each exec costs milliseconds);
# through a symlink elsewhere (an install), resolve it.
here=\${0%/*}
[ -x "$here/deno" ] || { p=$(readlink -f "$0"); here=\${p%/*}; }
# No update check: a short-lived action must not start one, the server must not keep its TLS state.
DENO_NO_UPDATE_CHECK=1 exec "$here/deno" run ${
      RUN_FLAGS.join(" ")
    } --no-config --no-lock --quiet "$here/${NAME}.js" "$@"
`,
  );
  await Deno.chmod(launcher, 0o755);
}

/**
 * Deno loads and parses every module a program can reach before running it,
 * following `import("./x.js")` with a literal specifier too: so `-version` read
 * and parsed all 1.9 MB, the server's whole Create path included. A specifier
 * computed at run time is loaded only when the import runs, so each chunk's
 * lazy imports are rewritten to one (same file, same resolution).
 */
export function hideLazyImportsIn(code: string): { code: string; count: number } {
  let count = 0;
  const out = code.replace(/\bimport\("(\.\/[A-Za-z0-9_.-]+\.js)"\)/g, (_m, spec: string) => {
    count++;
    return `import(new URL(${JSON.stringify(spec)}, import.meta.url).href)`;
  });
  return { code: out, count };
}

async function hideLazyImports(chunks: string): Promise<void> {
  let total = 0;
  for await (const e of Deno.readDir(chunks)) {
    if (!e.isFile || !e.name.endsWith(".js")) continue;
    const path = `${chunks}/${e.name}`;
    const { code, count } = hideLazyImportsIn(await Deno.readTextFile(path));
    if (count) await Deno.writeTextFile(path, code);
    total += count;
  }
  // main.ts imports every action lazily: none found means the bundler's output changed shape.
  if (total === 0) throw new Error(`Build: no lazy import found to rewrite in ${chunks}`);
}

if (import.meta.main) {
  await Deno.mkdir(DIST, { recursive: true });
  const commit = await gitCommit();
  const forceBundle = Deno.args.includes("--bundle");
  const why = forceBundle ? "bundle requested" : await tryCompile(commit);
  if (why === undefined) {
    console.log(`built ${DIST}/${NAME} (compiled with deno compile, commit ${commit})`);
  } else {
    await bundle(commit);
    console.log(
      `built ${DIST}/${NAME} (BUNDLED: ${NAME}.js + js/ chunks + pinned deno + launcher; ${why}; commit ${commit})`,
    );
  }
  for (const f of [`${DIST}/.entry-compiled.ts`, `${DIST}/.entry-bundled.ts`]) {
    await Deno.remove(f).catch(() => {});
  }
}
