/**
 * Kata-compatible configuration: `loadConfig()` finds, merges, parses,
 * annotates and validates `configuration*.toml`; `requirePaths()` makes
 * missing host files fatal (at sandbox creation).
 * @module
 */
export { loadConfig } from "./load.ts";
export type { LoadedConfig, LoadOptions } from "./load.ts";
export { requirePaths } from "./paths.ts";
export type { PathFinding } from "./paths.ts";
export { CONF_FILE_ENV, DEFAULT_CONFIG_CANDIDATES } from "./files.ts";
export type { ConfigSource, LookupOptions } from "./files.ts";
export type { HostResources } from "./adjust.ts";
export { HYPERVISOR_NAMES, RUNTIME_NAMES } from "./schema.ts";
export type {
  AgentConfig,
  HypervisorConfig,
  HypervisorName,
  KataConfig,
  LinuxContainerConfig,
  RuntimeConfig,
  RuntimeName,
} from "./schema.ts";
export { configToJson } from "./json.ts";
