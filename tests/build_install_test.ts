import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { install, LAYOUT } from "../scripts/install.ts";
import { runCommand } from "./command.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const SHIM = `${ROOT}/dist/containerd-shim-kata-v2`;

function run(cmd: string, args: string[]) {
  return runCommand(cmd, args, { cwd: ROOT, env: { NO_COLOR: "1" } });
}

Deno.test("deno task build makes an executable shim that reports its build mode honestly", async () => {
  const b = await run(`${ROOT}/scripts/deno`, ["task", "build"]);
  assertEquals(b.code, 0, b.stderr);
  const v = await run(SHIM, ["-version"]);
  assertEquals(v.code, 0, v.stderr);
  assertStringIncludes(v.stdout, "containerd-shim-kata-v2");
  assertMatch(v.stdout, /Git commit: [0-9a-f]{12}/);
  const mode = /Build mode: (\w+)/.exec(v.stdout)?.[1];
  const bundled = await Deno.stat(`${SHIM}.js`).then(() => true, () => false);
  // A bundled build must say so; only a real deno compile output says "compiled".
  assertEquals(mode, bundled ? "bundled" : "compiled");
  assertStringIncludes(b.stdout, bundled ? "BUNDLED" : "compiled with deno compile");
  if (bundled) {
    // A literal lazy import would make Deno load and parse every action's code at start-up.
    for await (const e of Deno.readDir(`${ROOT}/dist/js`)) {
      const code = await Deno.readTextFile(`${ROOT}/dist/js/${e.name}`);
      assertEquals(
        /\bimport\("\.\//.test(code),
        false,
        `dist/js/${e.name} has a literal lazy import`,
      );
    }
  }
  const bad = await run(SHIM, ["-nosuchflag"]);
  assertEquals(bad.code, 2);
  assertStringIncludes(bad.stderr, "Flag provided but not defined: -nosuchflag");
});

Deno.test("install lays out the shim and configs like upstream, configuration.toml -> default", async () => {
  const dest = await Deno.makeTempDir();
  try {
    const written = await install(dest, "dragonball");
    const link = await Deno.readLink(`${dest}${LAYOUT.configs}/configuration.toml`);
    assertEquals(link, "configuration-dragonball.toml");
    assert(written.some((w) => w.endsWith("configuration-qemu.toml")));
    assert(written.some((w) => w.endsWith("configuration-linux-container.toml")));
    const bin = `${dest}${LAYOUT.bin}/containerd-shim-kata-v2`;
    const st = await Deno.lstat(bin);
    if (st.isSymlink) {
      // Bundled: the link points at the launcher in lib/, which runs from there.
      assertEquals(await Deno.readLink(bin), `${LAYOUT.lib}/containerd-shim-kata-v2`);
      const v = await run(`${dest}${LAYOUT.lib}/containerd-shim-kata-v2`, ["-version"]);
      assertEquals(v.code, 0, v.stderr);
    } else {
      const v = await run(bin, ["-version"]);
      assertEquals(v.code, 0, v.stderr);
    }
    let err = "";
    await install(dest, "nosuch").catch((e) => err = e.message);
    assertStringIncludes(err, 'no shipped configuration for default hypervisor "nosuch"');
  } finally {
    await Deno.remove(dest, { recursive: true });
  }
});
