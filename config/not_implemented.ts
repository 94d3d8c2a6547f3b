/**
 * Keys this runtime accepts (upstream's configurations must load unchanged)
 * but does not act on. Set to anything but their default they are reported:
 * sandbox creation logs a warning naming key and file, and `env` lists them
 * under `not_implemented` ("accepted but not implemented"). Keys a driver
 * refuses outright live in hypervisor/unsupported_keys.ts instead.
 * The README's table is this list.
 * @module
 */
import type { LoadedConfig } from "./load.ts";
import { agentSchema, hypervisorSchema, runtimeSchema } from "./schema.ts";
import { exists } from "../common/fs.ts";

/** `[runtime]` keys without an effect here. */
const RUNTIME_NOT_IMPLEMENTED = [
  "shared_mounts",
  "use_passfd_io",
  "passfd_listener_port",
  "enable_tracing",
  "jaeger_endpoint",
  "jaeger_user",
  "jaeger_password",
  "enable_pprof",
  "experimental",
  "pod_resource_api_sock",
  "kubelet_root_dir",
  "log_level",
] as const;

/** `[agent.kata]` keys without an effect here. */
const AGENT_NOT_IMPLEMENTED = [
  "enable_tracing",
  "debug_console_enabled",
  "log_level",
  "container_pipe_size",
  "cdh_api_timeout_ms",
  "launch_process_timeout",
  "visible_cdi_devices",
] as const;

/** `[hypervisor.*]` keys without an effect in any driver here (and not refused by one). */
const HYPERVISOR_NOT_IMPLEMENTED = [
  "block_device_logical_sector_size",
  "block_device_physical_sector_size",
  "pcie_switch_port",
  "default_bridges",
  "default_gpus",
  "default_gpu_model",
  "disable_guest_selinux",
  "disable_image_nvdimm",
  "disable_nesting_checks",
  "disable_nested_virtualization",
  "dbg_monitor_socket",
  "enable_guest_swap",
  "guest_swap_path",
  "guest_swap_size_percent",
  "guest_swap_create_threshold_secs",
  "guest_memory_dump_paging",
  "guest_extension_images",
  "extra_images",
  "indep_iothreads",
  "kernel_verity_params",
  "memory_offset",
  "memory_path",
  "overhead_memory",
  "overhead_vcpus",
  "prefetch_list_path",
  "reclaim_guest_freed_memory",
  "use_legacy_serial",
  "vhost_user_reconnect_timeout_sec",
  "vhost_user_store_path",
  "log_level",
] as const;

/** `emptydir_mode` values that are what this runtime does anyway (emptyDir over the shared fs). */
const EMPTYDIR_IMPLEMENTED = ["", "shared-fs"];

/** One key set in a configuration that has no effect here. */
interface NotImplementedKey {
  /** `runtime`, `agent.kata`, `hypervisor.qemu`, ... */
  section: string;
  key: string;
  /** The value as set (JSON). */
  value: string;
  /** The file the configuration came from (drop-ins may have set it). */
  file: string;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a, (_k, v) => typeof v === "bigint" ? v.toString() : v) ===
    JSON.stringify(b, (_k, v) => typeof v === "bigint" ? v.toString() : v);
}

function setKeys(
  table: Record<string, unknown> | undefined,
  defaults: Record<string, unknown>,
  keys: readonly string[],
  section: string,
  file: string,
): NotImplementedKey[] {
  if (!table) return [];
  return keys.filter((k) => k in table && !same(table[k], defaults[k])).map((key) => ({
    section,
    key,
    value: JSON.stringify(table[key], (_k, v) => typeof v === "bigint" ? v.toString() : v),
    file,
  }));
}

const DEFAULTS = {
  runtime: runtimeSchema.parse({}) as Record<string, unknown>,
  agent: agentSchema.parse({}) as Record<string, unknown>,
  hypervisor: hypervisorSchema.parse({}) as Record<string, unknown>,
};

/**
 * The keys of the selected runtime, agent and hypervisor sections that are
 * set to something other than their default but have no effect here.
 */
export function notImplementedKeys(loaded: LoadedConfig): NotImplementedKey[] {
  const file = loaded.dropIns.length > 0
    ? `${loaded.file} (+ ${loaded.dropIns.join(", ")})`
    : loaded.file;
  const rt = loaded.config.runtime as unknown as Record<string, unknown>;
  const out = setKeys(rt, DEFAULTS.runtime, RUNTIME_NOT_IMPLEMENTED, "runtime", file);
  if (!EMPTYDIR_IMPLEMENTED.includes(String(rt.emptydir_mode ?? ""))) {
    out.push({
      section: "runtime",
      key: "emptydir_mode",
      value: JSON.stringify(rt.emptydir_mode),
      file,
    });
  }
  // Upstream only uses DAN when its directory holds a file for the sandbox: without one, no effect is expected.
  if (rt.dan_conf && exists(String(rt.dan_conf))) {
    out.push({ section: "runtime", key: "dan_conf", value: JSON.stringify(rt.dan_conf), file });
  }
  const memAgent = (loaded.agent?.mem_agent ?? {}) as { mem_agent_enable?: boolean };
  if (loaded.runtimeName === "virt_container" && memAgent.mem_agent_enable) {
    out.push({ section: "agent.kata.mem_agent", key: "mem_agent_enable", value: "true", file });
  }
  const coldPlug = String(loaded.hypervisor?.cold_plug_vfio ?? "");
  if (loaded.runtimeName === "virt_container" && !["", "no-port"].includes(coldPlug)) {
    const section = `hypervisor.${loaded.hypervisorName}`;
    out.push({ section, key: "cold_plug_vfio", value: JSON.stringify(coldPlug), file });
  }
  // VM templating is the built-in VMM's (hypervisor/dragonball/template.ts); other drivers ignore it.
  const factory = (loaded.hypervisor?.factory ?? {}) as { enable_template?: boolean };
  if (
    loaded.runtimeName === "virt_container" && factory.enable_template &&
    loaded.hypervisorName !== "dragonball"
  ) {
    const section = `hypervisor.${loaded.hypervisorName}.factory`;
    out.push({ section, key: "enable_template", value: "true", file });
  }
  if (loaded.runtimeName === "virt_container") {
    out.push(
      ...setKeys(
        loaded.agent as unknown as Record<string, unknown>,
        DEFAULTS.agent,
        AGENT_NOT_IMPLEMENTED,
        "agent.kata",
        file,
      ),
      ...setKeys(
        loaded.hypervisor as unknown as Record<string, unknown>,
        DEFAULTS.hypervisor,
        HYPERVISOR_NOT_IMPLEMENTED,
        `hypervisor.${loaded.hypervisorName}`,
        file,
      ),
    );
  }
  return out;
}

/** The warning for one key: `[runtime] keep_abnormal = true in FILE is accepted but not implemented`. */
export function notImplementedMessage(k: NotImplementedKey): string {
  return `[${k.section}] ${k.key} = ${k.value} in ${k.file} is accepted but not implemented (no effect)`;
}
