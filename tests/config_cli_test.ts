/**
 * `containerd-shim-kata-v2 env` and `check` through the real entry point
 * (main.ts), as an operator runs them.
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { cgroupVersion } from "../config/host_check.ts";
import { runShim } from "./command.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const UPSTREAM = new URL("../config/testdata/upstream/", import.meta.url).pathname;

function shim(...args: string[]) {
  return runShim(args, { cwd: ROOT, env: { KATA_CONF_FILE: "" } });
}

async function withFile(text: string, fn: (file: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "config-cli-test-" });
  try {
    await Deno.writeTextFile(`${dir}/configuration.toml`, text);
    await fn(`${dir}/configuration.toml`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("env --config prints the resolved configuration as JSON and exits 0", async () => {
  const r = await shim("env", "--config", "config/configuration-qemu.toml");
  assertEquals(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assertEquals(out.file, "config/configuration-qemu.toml");
  assertEquals(out.hypervisor_name, "qemu");
  assertEquals(out.config.hypervisor.qemu.machine_type, "q35");
  assert(Array.isArray(out.warnings));
  // i64::MAX survives as an exact JSON integer.
  assertStringIncludes(r.stdout, '"compact_force_times": 9223372036854775807');
});

Deno.test("env --config=FILE (Go flag form) works and lists missing files as warnings", async () => {
  await withFile(
    '[hypervisor.qemu]\nkernel = "/nonexistent/vmlinux"\nimage = "/nonexistent/img"\n',
    async (file) => {
      const r = await shim("env", `--config=${file}`);
      assertEquals(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert(out.warnings.some((w: string) => w.includes("/nonexistent/vmlinux")));
    },
  );
});

Deno.test("env accepts every shipped and every upstream configuration file", async () => {
  const files: string[] = [];
  for (const [dir, prefix] of [[`${ROOT}config`, "config/"], [UPSTREAM, UPSTREAM]]) {
    for await (const e of Deno.readDir(dir)) {
      if (e.name.endsWith(".toml")) files.push(`${prefix}${e.name}`);
    }
  }
  // 10 shipped files and the 15 upstream fixtures.
  assertEquals(files.length, 25);
  for (const f of files) {
    const r = await shim("env", "--config", f);
    assertEquals(r.code, 0, `${f}: ${r.stderr}`);
  }
});

Deno.test("env exits 1 naming key, section and file for an unknown key under [runtime]", async () => {
  await withFile('[runtime]\nname = "linux_container"\nno_such_key = true\n', async (file) => {
    const r = await shim("env", "--config", file);
    assertEquals(r.code, 1);
    assertEquals(r.stdout, "");
    assertStringIncludes(r.stderr, 'unknown key "no_such_key" in section [runtime]');
    assertStringIncludes(r.stderr, file);
  });
});

Deno.test("env exits 1 for a missing file and 2 for a bad flag", async () => {
  const missing = await shim("env", "--config", "/nonexistent/configuration.toml");
  assertEquals(missing.code, 1);
  assertStringIncludes(missing.stderr, "/nonexistent/configuration.toml does not exist");
  const bad = await shim("env", "--cfg", "x");
  assertEquals(bad.code, 2);
  assertStringIncludes(bad.stderr, "Flag provided but not defined: -cfg");
});

Deno.test("check exits 0 only when every required item exists", async () => {
  // Everything a linux_container configuration needs: an OCI runtime binary and cgroups.
  await withFile(
    `[runtime]\nname = "linux_container"\n[linux_container]\noci_runtime = "${Deno.execPath()}"\n`,
    async (file) => {
      const r = await shim("check", "--config", file, "--json");
      const report = JSON.parse(r.stdout);
      const expectOk = cgroupVersion() !== "none";
      assertEquals(r.code, expectOk ? 0 : 1, r.stdout);
      assertEquals(report.ok, expectOk);
    },
  );
  await withFile(
    '[runtime]\nname = "linux_container"\n[linux_container]\noci_runtime = "/nonexistent/runc"\n',
    async (file) => {
      const r = await shim("check", "--config", file);
      assertEquals(r.code, 1);
      assertStringIncludes(r.stdout, "MISSING OCI runtime binary /nonexistent/runc");
      assertStringIncludes(r.stdout, "hint: install runc or crun");
    },
  );
});
