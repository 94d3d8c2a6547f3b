import { assert, assertEquals } from "../tests/assert.ts";
import { loadConfig } from "./load.ts";
import { notImplementedKeys, notImplementedMessage } from "./not_implemented.ts";

const SHIPPED = new URL("./configuration-qemu.toml", import.meta.url).pathname;

Deno.test("keys set without effect are reported with key, section and file; defaults are not", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/configuration.toml`;
    await Deno.copyFile(SHIPPED, file);
    const base = notImplementedKeys(await loadConfig({ path: file })).map((k) => k.key);
    assert(!base.includes("use_passfd_io") && !base.includes("emptydir_mode"), base.join());
    await Deno.mkdir(`${dir}/config.d`);
    await Deno.writeTextFile(
      `${dir}/config.d/50-test.toml`,
      [
        "[runtime]",
        "keep_abnormal = true",
        'emptydir_mode = "block-encrypted"',
        "use_passfd_io = true",
        "enable_tracing = true",
        "[agent.kata]",
        "debug_console_enabled = true",
        "[hypervisor.qemu]",
        "use_legacy_serial = true",
        "",
      ].join("\n"),
    );
    const loaded = await loadConfig({ path: file });
    const found = notImplementedKeys(loaded);
    const keys = found.map((k) => `${k.section}.${k.key}`);
    for (
      const k of [
        "runtime.emptydir_mode",
        "runtime.use_passfd_io",
        "runtime.enable_tracing",
        "agent.kata.debug_console_enabled",
        "hypervisor.qemu.use_legacy_serial",
      ]
    ) assert(keys.includes(k), `${k} reported: ${keys.join(", ")}`);
    const msg = notImplementedMessage(found.find((k) => k.key === "use_passfd_io")!);
    assertEquals(
      msg,
      `[runtime] use_passfd_io = true in ${file} (+ ${dir}/config.d/50-test.toml) is accepted but not implemented (no effect)`,
    );
    // env shows them under not_implemented.
    const { envCommand } = await import("./cli.ts");
    const orig = console.log;
    let printed = "";
    console.log = (s: string) => printed += s;
    try {
      assertEquals(await envCommand(["--config", file]), 0);
    } finally {
      console.log = orig;
    }
    const env = JSON.parse(printed) as { not_implemented: string[] };
    assert(env.not_implemented.some((m) => m.startsWith("[runtime] use_passfd_io = true")));
    // keep_abnormal has its effect (shim delete keeps the sandbox): not reported.
    assert(!keys.includes("runtime.keep_abnormal"), keys.join(", "));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("enable_template is reported for QEMU (templating is the built-in VMM's), not for dragonball", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cases = [
      ["configuration-qemu.toml", "qemu", true],
      ["configuration-dragonball.toml", "dragonball", false],
    ] as const;
    for (const [shipped, name, reported] of cases) {
      const file = `${dir}/${shipped}`;
      await Deno.copyFile(new URL(`./${shipped}`, import.meta.url).pathname, file);
      await Deno.mkdir(`${dir}/config.d`, { recursive: true });
      await Deno.writeTextFile(
        `${dir}/config.d/50-test.toml`,
        `[hypervisor.${name}.factory]\nenable_template = true\n`,
      );
      const keys = notImplementedKeys(await loadConfig({ path: file }))
        .map((k) => `${k.section}.${k.key}`);
      assertEquals(
        keys.includes(`hypervisor.${name}.factory.enable_template`),
        reported,
        keys.join(),
      );
      await Deno.remove(`${dir}/config.d`, { recursive: true });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
