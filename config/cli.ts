/**
 * The `env` and `check` subcommands.
 * - `env [--config FILE]` prints the resolved configuration as JSON, with a
 *   `warnings` list of host files it names that are missing and a
 *   `not_implemented` list of keys set but accepted without effect; exit 0, or 1
 *   with the error on stderr when the file is missing or invalid.
 * - `check [--config FILE] [--json] [--all]` reports what the host offers for
 *   that configuration (with `--all`: what is missing for each shipped
 *   configuration beside it); exit 0 only when every required item exists.
 * @module
 */
import { HelpRequested, parseFlags, usage } from "../common/flags.ts";
import { checkHost } from "./host_check.ts";
import { configToJson } from "./json.ts";
import { loadConfig } from "./load.ts";
import { notImplementedKeys, notImplementedMessage } from "./not_implemented.ts";

const ENV_FLAGS = {
  config: { kind: "string", usage: "configuration file (default: the Kata lookup order)" },
} as const;

const CHECK_FLAGS = {
  config: { kind: "string", usage: "configuration file (default: the Kata lookup order)" },
  json: { kind: "bool", usage: "print the report as JSON" },
  all: {
    kind: "bool",
    usage:
      "check every configuration-*.toml beside the configuration found (what is missing for each)",
  },
} as const;

function parseOrReport<F extends typeof ENV_FLAGS | typeof CHECK_FLAGS>(
  cmd: string,
  args: string[],
  spec: F,
) {
  try {
    const parsed = parseFlags(args, spec);
    if (parsed.rest.length > 0) {
      console.error(`${cmd}: unexpected argument ${parsed.rest[0]}\n${usage(spec)}`);
      return undefined;
    }
    return parsed.values;
  } catch (e) {
    if (e instanceof HelpRequested) {
      console.log(`Usage: containerd-shim-kata-v2 ${cmd} [flags]\n${e.message}`);
      return "help" as const;
    }
    console.error(`${cmd}: ${(e as Error).message}\n${usage(spec)}`);
    return undefined;
  }
}

/** `env`: prints the resolved configuration as JSON. Returns the exit code. */
export async function envCommand(args: string[]): Promise<number> {
  const flags = parseOrReport("env", args, ENV_FLAGS);
  if (flags === "help") return 0;
  if (!flags) return 2;
  try {
    const loaded = await loadConfig({ path: flags.config || undefined });
    const out = {
      file: loaded.file,
      source: loaded.source,
      drop_ins: loaded.dropIns,
      runtime: loaded.runtimeName,
      hypervisor_name: loaded.hypervisorName ?? null,
      oci_runtime: loaded.ociRuntime ?? null,
      config: loaded.config,
      warnings: loaded.warnings.map((w) => w.message),
      not_implemented: notImplementedKeys(loaded).map(notImplementedMessage),
    };
    console.log(configToJson(out));
    return 0;
  } catch (e) {
    console.error(`env: ${(e as Error).message}`);
    return 1;
  }
}

/** `check`: reports the host's devices, binaries, guest artifacts and cgroup version. */
export async function checkCommand(args: string[]): Promise<number> {
  const flags = parseOrReport("check", args, CHECK_FLAGS);
  if (flags === "help") return 0;
  if (!flags) return 2;
  let files: (string | undefined)[] = [flags.config || undefined];
  if (flags.all) {
    try {
      // Every shipped configuration beside the one the lookup order finds (the install directory).
      const main = (await loadConfig({ path: flags.config || undefined })).file;
      const dir = main.slice(0, main.lastIndexOf("/")) || ".";
      files = [...Deno.readDirSync(dir)]
        .filter((e) => /^configuration-.+\.toml$/.test(e.name))
        .map((e) => `${dir}/${e.name}`)
        .sort();
    } catch (e) {
      console.error(`check: ${(e as Error).message}`);
      return 1;
    }
  }
  const reports = [];
  for (const path of files) {
    try {
      const loaded = await loadConfig({ path });
      const items = checkHost(loaded);
      const failed = items.filter((i) => i.required && !i.ok);
      reports.push({ file: loaded.file, ok: failed.length === 0, items, failed });
    } catch (e) {
      if (!flags.all) {
        console.error(`check: ${(e as Error).message}`);
        return 1;
      }
      reports.push({ file: path!, ok: false, error: (e as Error).message, items: [], failed: [] });
    }
  }
  if (flags.json) {
    const out = reports.map(({ failed: _f, ...r }) => r);
    console.log(JSON.stringify(flags.all ? out : out[0], null, 2));
  } else {
    for (const r of reports) {
      if (flags.all) console.log("");
      console.log(`configuration: ${r.file}`);
      if ("error" in r) console.log(`ERROR   ${r.error}`);
      for (const i of r.items) {
        if (flags.all && i.ok) continue; // with --all only what is missing, per configuration
        const state = i.ok ? "ok" : i.required ? "MISSING" : "absent";
        const detail = i.detail ? ` (${i.detail})` : "";
        console.log(`${state.padEnd(8)}${i.name}${detail}`);
        if (!i.ok && i.hint) console.log(`        hint: ${i.hint}`);
      }
      console.log(
        r.ok ? "all required items are present" : `${r.failed.length} required item(s) missing`,
      );
    }
  }
  return reports.every((r) => r.ok) ? 0 : 1;
}
