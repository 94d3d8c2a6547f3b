/**
 * Every script the README names works from a fresh clone or says, in one line
 * on stderr, what to run first. The scripts run in a fresh `git clone` of this
 * repository (this tree's scripts/ copied over it, so uncommitted script
 * changes count): no node_modules/, and a PATH without npm, node, Deno, dpkg
 * or apt-get, so nothing can be installed. A script that installs what it
 * needs then stops naming what is missing, and one that needs the pinned Deno
 * names scripts/install-deps; none starts its real work. The clone is removed
 * afterwards.
 * @module
 */
import { assert, assertEquals, assertMatch, assertNotEquals } from "./assert.ts";
import { runChecked, runCommand } from "./command.ts";
import { testsNeeding } from "./tier.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const test = testsNeeding({ peers: ["git", "bash", "timeout"], paths: [`${ROOT}/.git`] });

/** What a fresh machine lacks here: the installers and every Deno. */
const HIDDEN = new Set([
  "npm",
  "npx",
  "node",
  "nodejs",
  "deno",
  "apt",
  "apt-get",
  "dpkg",
  "dpkg-query",
]);

/** A bin directory linking every executable on PATH except {@link HIDDEN}. */
async function restrictedBin(dir: string): Promise<string> {
  const bin = `${dir}/bin`;
  await Deno.mkdir(bin);
  for (const d of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":")) {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(d)];
    } catch {
      continue; // a PATH entry that does not exist
    }
    for (const e of entries) {
      if (HIDDEN.has(e.name) || e.isDirectory) continue;
      try {
        Deno.symlinkSync(`${d}/${e.name}`, `${bin}/${e.name}`);
      } catch (err) {
        if (!(err instanceof Deno.errors.AlreadyExists)) throw err; // earlier PATH entries win
      }
    }
  }
  return bin;
}

/** The README's scripts, each with arguments that would start real work if nothing stopped it. */
const SCRIPTS: { script: string; args: string[]; names: RegExp }[] = [
  { script: "scripts/deno", args: ["--version"], names: /run scripts\/install-deps/ },
  { script: "scripts/build-guest", args: [], names: /run scripts\/install-deps/ },
  { script: "scripts/test-vm", args: [], names: /run scripts\/install-deps/ },
  { script: "scripts/proto", args: [], names: /run scripts\/install-deps/ },
  { script: "scripts/install-deps", args: [], names: /apt-get is not available/ },
  { script: "scripts/main-job", args: [], names: /apt-get is not available/ },
  { script: "scripts/test-all", args: [], names: /apt-get is not available/ },
  { script: "scripts/testhost", args: ["true"], names: /apt-get is not available/ },
];

test("each README script in a fresh clone without dependencies stops with one line naming what to run first", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rts-fresh-clone-" });
  try {
    const clone = `${dir}/clone`;
    await runChecked("git", ["clone", "--quiet", "--no-hardlinks", ROOT, clone]);
    await runChecked("cp", ["-a", `${ROOT}/scripts/.`, `${clone}/scripts/`]);
    assert(
      !(await Deno.stat(`${clone}/node_modules`).catch(() => null)),
      "the clone has node_modules",
    );
    const env = { PATH: await restrictedBin(dir), HOME: dir, LC_ALL: "C" };
    for (const { script, args, names } of SCRIPTS) {
      const r = await runCommand("timeout", ["-k", "5", "60", `${clone}/${script}`, ...args], {
        cwd: clone,
        env,
      });
      const what = `${script} ${args.join(" ")}`.trim();
      assertNotEquals(r.code, 124, `${what} ran on for 60 s instead of stopping`);
      assertNotEquals(r.code, 0, `${what} succeeded without its dependencies: ${r.stdout}`);
      const lines = r.stderr.split("\n").filter((l) => l.trim() !== "");
      assertEquals(lines.length, 1, `${what} should say one line on stderr, said:\n${r.stderr}`);
      assertMatch(lines[0], /^[\w.-]+: .+: .+ first$/, `${what}: ${lines[0]}`);
      assertMatch(lines[0], names, `${what}: ${lines[0]}`);
    }
    // Nothing was installed or built in the clone.
    assert(!(await Deno.stat(`${clone}/node_modules`).catch(() => null)), "node_modules appeared");
    assert(!(await Deno.stat(`${clone}/dist`).catch(() => null)), "dist/ appeared");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
