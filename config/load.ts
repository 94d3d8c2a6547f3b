/**
 * The one entry point the runtime uses to get its configuration: find the
 * file, merge drop-ins, parse strictly, apply annotations, fill defaults,
 * validate, fit to the host, and list host files that are missing.
 * @module
 */
import {
  fillDefaults,
  fillSelection,
  fitToHost,
  type HostResources,
  hostResources,
} from "./adjust.ts";
import { applyAnnotations, applySelectionAnnotations } from "./annotations.ts";
import {
  type ConfigSource,
  type LookupOptions,
  readWithDropIns,
  resolveConfigFile,
} from "./files.ts";
import { parseConfigTree } from "./parse.ts";
import { findExecutable, findMissingPaths, type PathFinding } from "./paths.ts";
import type { AgentConfig, HypervisorConfig, KataConfig, RuntimeName } from "./schema.ts";
import { validateConfig } from "./validate.ts";

/** Options of {@link loadConfig}. */
export interface LoadOptions extends LookupOptions {
  /** OCI annotations of the sandbox; `io.katacontainers.config.*` ones are applied. */
  annotations?: Record<string, string>;
  /** Host CPU/memory used to fit vCPU and memory ceilings (default: this host). */
  host?: HostResources;
}

/** A loaded, validated configuration with the selected parts resolved. */
export interface LoadedConfig {
  /** The main configuration file. */
  file: string;
  /** How {@link file} was chosen. */
  source: ConfigSource;
  /** Drop-in files merged over it, in the order applied. */
  dropIns: string[];
  /** The whole configuration. */
  config: KataConfig;
  /** `[runtime] name`. */
  runtimeName: RuntimeName;
  /** Selected hypervisor name and table (virt_container only). */
  hypervisorName?: string;
  hypervisor?: HypervisorConfig;
  /** Selected agent table (virt_container only). */
  agent?: AgentConfig;
  /** linux_container only: the OCI runtime and its binary (undefined path: not found). */
  ociRuntime?: { name: string; path?: string; root: string };
  /** Host files the configuration names that do not exist (see `requirePaths`). */
  warnings: PathFinding[];
}

/**
 * Loads the configuration following upstream's order (explicit path, then
 * `KATA_CONF_FILE`, then the default locations).
 * @throws NotFoundError when no file is found; ConfigError when it is invalid
 */
export async function loadConfig(opts: LoadOptions = {}): Promise<LoadedConfig> {
  const { file, source } = await resolveConfigFile(opts);
  const { tree, sources, dropIns } = await readWithDropIns(file);
  const config = parseConfigTree(tree, sources);
  const annotations = opts.annotations ?? {};
  applySelectionAnnotations(config, annotations, sources);
  fillSelection(config);
  applyAnnotations(
    config,
    config.runtime.hypervisor_name,
    config.runtime.agent_name,
    annotations,
    sources,
  );
  fillDefaults(config);
  validateConfig(config, sources);
  fitToHost(config, opts.host ?? hostResources());
  const runtimeName = config.runtime.name as RuntimeName;
  const loaded: LoadedConfig = {
    file,
    source,
    dropIns,
    config,
    runtimeName,
    warnings: findMissingPaths(config, sources),
  };
  if (runtimeName === "virt_container") {
    loaded.hypervisorName = config.runtime.hypervisor_name;
    loaded.hypervisor = config.hypervisor[config.runtime.hypervisor_name];
    loaded.agent = config.agent[config.runtime.agent_name];
  }
  if (runtimeName === "linux_container") {
    const lc = config.linux_container;
    loaded.ociRuntime = {
      name: lc.oci_runtime,
      path: findExecutable(lc.oci_runtime),
      root: lc.oci_runtime_root,
    };
  }
  return loaded;
}
