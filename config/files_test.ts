import { assertEquals, assertRejects, assertStringIncludes } from "../tests/assert.ts";
import { ConfigError, NotFoundError } from "../common/errors.ts";
import { listDropIns, readWithDropIns, resolveConfigFile } from "./files.ts";
import { loadConfig } from "./load.ts";

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "config-files-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const MINIMAL = '[runtime]\nname = "linux_container"\n';

Deno.test("lookup: the explicit path wins over KATA_CONF_FILE and the defaults", async () => {
  await withDir(async (dir) => {
    for (const n of ["explicit", "env", "default"]) {
      await Deno.writeTextFile(`${dir}/${n}.toml`, "");
    }
    const r = await resolveConfigFile({
      path: `${dir}/explicit.toml`,
      env: { KATA_CONF_FILE: `${dir}/env.toml` },
      candidates: [`${dir}/default.toml`],
    });
    assertEquals(r, { file: `${dir}/explicit.toml`, source: "explicit" });
  });
});

Deno.test("lookup: KATA_CONF_FILE wins over the defaults", async () => {
  await withDir(async (dir) => {
    for (const n of ["env", "default"]) await Deno.writeTextFile(`${dir}/${n}.toml`, "");
    const r = await resolveConfigFile({
      env: { KATA_CONF_FILE: `${dir}/env.toml` },
      candidates: [`${dir}/default.toml`],
    });
    assertEquals(r, { file: `${dir}/env.toml`, source: "env" });
  });
});

Deno.test("lookup: the first existing default candidate is used, in order", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/second.toml`, "");
    await Deno.writeTextFile(`${dir}/third.toml`, "");
    const r = await resolveConfigFile({
      env: {},
      candidates: [`${dir}/first.toml`, `${dir}/second.toml`, `${dir}/third.toml`],
    });
    assertEquals(r, { file: `${dir}/second.toml`, source: "default" });
  });
});

Deno.test("lookup: a named file that is missing is an error, not a fallback", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/default.toml`, "");
    const candidates = [`${dir}/default.toml`];
    await assertRejects(
      () => resolveConfigFile({ path: `${dir}/gone.toml`, env: {}, candidates }),
      NotFoundError,
      `${dir}/gone.toml`,
    );
    await assertRejects(
      () => resolveConfigFile({ env: { KATA_CONF_FILE: `${dir}/gone2.toml` }, candidates }),
      NotFoundError,
      "KATA_CONF_FILE",
    );
  });
});

Deno.test("lookup: nothing found lists every candidate", async () => {
  await withDir(async (dir) => {
    const e = await assertRejects(
      () => resolveConfigFile({ env: {}, candidates: [`${dir}/a.toml`, `${dir}/b.toml`] }),
      NotFoundError,
    );
    assertStringIncludes(e.message, `${dir}/a.toml, ${dir}/b.toml`);
  });
});

Deno.test("drop-ins: merged in file-name order, tables merge, values and arrays replace", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/configuration.toml`,
      '[runtime]\nname = "linux_container"\nlog_level = "info"\nexperimental = ["a", "b"]\n' +
        '[linux_container]\noci_runtime = "runc"\n',
    );
    await Deno.mkdir(`${dir}/config.d`);
    // Written out of order on purpose: names decide, not creation time.
    await Deno.writeTextFile(`${dir}/config.d/20-late.toml`, '[runtime]\nlog_level = "error"\n');
    await Deno.writeTextFile(
      `${dir}/config.d/10-early.toml`,
      '[runtime]\nlog_level = "debug"\nexperimental = ["c"]\n',
    );
    await Deno.writeTextFile(`${dir}/config.d/README`, "not toml, ignored");
    await Deno.writeTextFile(`${dir}/config.d/.hidden.toml`, "garbage [[[");
    assertEquals(await listDropIns(`${dir}/configuration.toml`), [
      `${dir}/config.d/10-early.toml`,
      `${dir}/config.d/20-late.toml`,
    ]);
    const loaded = await loadConfig({ path: `${dir}/configuration.toml` });
    assertEquals(loaded.config.runtime.log_level, "error");
    assertEquals(loaded.config.runtime.experimental, ["c"]);
    // Keys the drop-ins do not touch survive (tables merge key by key).
    assertEquals(loaded.config.runtime.name, "linux_container");
    assertEquals(loaded.config.linux_container.oci_runtime, "runc");
    assertEquals(loaded.dropIns.length, 2);
  });
});

Deno.test("drop-ins: an unknown key in a drop-in names the drop-in file", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/configuration.toml`, MINIMAL);
    await Deno.mkdir(`${dir}/config.d`);
    await Deno.writeTextFile(`${dir}/config.d/50-typo.toml`, "[runtime]\nenable_degub = true\n");
    const e = await assertRejects(
      () => loadConfig({ path: `${dir}/configuration.toml` }),
      ConfigError,
    );
    assertStringIncludes(e.message, '"enable_degub"');
    assertStringIncludes(e.message, "[runtime]");
    assertStringIncludes(e.message, `${dir}/config.d/50-typo.toml`);
  });
});

Deno.test("drop-ins: a TOML syntax error names the drop-in file", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/configuration.toml`, MINIMAL);
    await Deno.mkdir(`${dir}/config.d`);
    await Deno.writeTextFile(`${dir}/config.d/bad.toml`, "[runtime\n");
    await assertRejects(
      () => readWithDropIns(`${dir}/configuration.toml`),
      ConfigError,
      `${dir}/config.d/bad.toml is not valid TOML`,
    );
  });
});

Deno.test("a file without config.d has no drop-ins", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/configuration.toml`, MINIMAL);
    assertEquals(await listDropIns(`${dir}/configuration.toml`), []);
  });
});
