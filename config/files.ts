/**
 * Finding and reading configuration files: the lookup order, TOML parsing
 * with file-named errors, and `config.d/` drop-ins merged in name order.
 * @module
 */
import { parse } from "smol-toml";
import { ConfigError, NotFoundError } from "../common/errors.ts";
import { mergeTable, Sources, type Table } from "./sources.ts";

/** Upstream's default locations, tried in this order when nothing else names a file. */
export const DEFAULT_CONFIG_CANDIDATES: readonly string[] = [
  "/etc/kata-containers/runtime-rs/configuration.toml",
  "/usr/share/defaults/kata-containers/runtime-rs/configuration.toml",
  "/opt/kata/share/defaults/kata-containers/runtime-rs/configuration.toml",
];

/** Environment variable that names the configuration file. */
export const CONF_FILE_ENV = "KATA_CONF_FILE";

/** Where to look for the configuration file. */
export interface LookupOptions {
  /** Explicit path (containerd runtime options `config_path`, or `--config`). */
  path?: string;
  /** Environment to read `KATA_CONF_FILE` from (default: the process environment). */
  env?: Record<string, string | undefined>;
  /** Default candidates (default: {@link DEFAULT_CONFIG_CANDIDATES}). */
  candidates?: readonly string[];
}

/** How the configuration file was chosen. */
export type ConfigSource = "explicit" | "env" | "default";

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/**
 * Resolves the configuration file: the explicit path, then `KATA_CONF_FILE`,
 * then the first existing default candidate. A file named explicitly or by the
 * environment must exist (no silent fallback to another file).
 */
export async function resolveConfigFile(
  opts: LookupOptions = {},
): Promise<{ file: string; source: ConfigSource }> {
  if (opts.path) {
    if (!(await isFile(opts.path))) {
      throw new NotFoundError(`Configuration file ${opts.path} does not exist`);
    }
    return { file: opts.path, source: "explicit" };
  }
  const fromEnv = opts.env ? opts.env[CONF_FILE_ENV] : Deno.env.get(CONF_FILE_ENV);
  if (fromEnv) {
    if (!(await isFile(fromEnv))) {
      throw new NotFoundError(`Configuration file ${fromEnv} (${CONF_FILE_ENV}) does not exist`);
    }
    return { file: fromEnv, source: "env" };
  }
  const candidates = opts.candidates ?? DEFAULT_CONFIG_CANDIDATES;
  for (const c of candidates) {
    if (await isFile(c)) return { file: c, source: "default" };
  }
  throw new NotFoundError(
    `No configuration file found: none of ${
      candidates.join(", ")
    } exists and ${CONF_FILE_ENV} is not set`,
  );
}

/** Reads and parses one TOML file; syntax errors name the file. */
async function readTomlFile(path: string): Promise<Table> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new ConfigError(`Cannot read configuration file ${path}: ${(e as Error).message}`);
  }
  try {
    // Upstream ships i64::MAX in one key: keep such integers exact as bigint.
    return parse(text, { integersAsBigInt: "asNeeded" }) as Table;
  } catch (e) {
    const detail = (e as Error).message.replace(/^Invalid TOML document: /, "");
    throw new ConfigError(`Configuration file ${path} is not valid TOML: ${detail}`);
  }
}

/** The drop-in files of `configFile`: `config.d/*.toml` beside it, sorted by name. */
export async function listDropIns(configFile: string): Promise<string[]> {
  const slash = configFile.lastIndexOf("/");
  const dir = `${slash < 0 ? "." : configFile.slice(0, slash) || ""}/config.d`;
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.name.startsWith(".") || !e.name.endsWith(".toml")) continue;
      if (e.isFile || (e.isSymlink && (await isFile(`${dir}/${e.name}`)))) names.push(e.name);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw new ConfigError(`Cannot read drop-in directory ${dir}: ${(e as Error).message}`);
  }
  // Byte order, like a plain sort of file names in upstream.
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return names.map((n) => `${dir}/${n}`);
}

/** The main file merged with its drop-ins, plus where each key came from. */
interface MergedTree {
  tree: Table;
  sources: Sources;
  dropIns: string[];
}

/** Reads `file` and merges its drop-ins over it, in name order (tables merge, values replace). */
export async function readWithDropIns(file: string): Promise<MergedTree> {
  const tree = await readTomlFile(file);
  const sources = new Sources(file);
  const dropIns = await listDropIns(file);
  for (const d of dropIns) mergeTable(tree, await readTomlFile(d), d, sources);
  return { tree, sources, dropIns };
}
