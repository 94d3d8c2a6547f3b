/**
 * Applies `io.katacontainers.config.*` OCI annotations to a parsed
 * configuration, the way upstream does:
 * - `io.katacontainers.config.hypervisor.<key>` only where the selected
 *   hypervisor's `enable_annotations` (regular expressions over `<key>`)
 *   allows it; executable/device paths must also match the matching
 *   `valid_*_paths` glob list;
 * - `io.katacontainers.config.agent.*` and `io.katacontainers.config.runtime.*`
 *   for the keys upstream lets annotations change.
 *
 * Unlike upstream, which skips a refused annotation silently, a refused,
 * unknown or malformed annotation is an error that names it: a pod asking for
 * something it does not get should not start quietly.
 * @module
 */
import { ConfigError } from "../common/errors.ts";
import { HYPERVISOR_LIMITS } from "./limits.ts";
import type { HypervisorConfig, HypervisorName, KataConfig } from "./schema.ts";
import type { Sources } from "./sources.ts";

/** Prefix of every configuration annotation. */
const CONFIG_ANNOTATION_PREFIX = "io.katacontainers.config.";
const HV_PREFIX = `${CONFIG_ANNOTATION_PREFIX}hypervisor.`;
const AGENT_PREFIX = `${CONFIG_ANNOTATION_PREFIX}agent.`;
const RUNTIME_PREFIX = `${CONFIG_ANNOTATION_PREFIX}runtime.`;

type Kind = "string" | "bool" | "u32" | "u64" | "i32" | "f32" | "list" | "params";

interface HvTarget {
  /** Configuration key the annotation sets. */
  key: keyof HypervisorConfig;
  kind: Kind;
  /** Allow-list key whose glob patterns the value must match. */
  allowList?: keyof HypervisorConfig;
}

/** Hypervisor annotations upstream understands, by the name after the prefix. */
const HYPERVISOR_ANNOTATIONS: Record<string, HvTarget> = {
  path: { key: "path", kind: "string", allowList: "valid_hypervisor_paths" },
  ctlpath: { key: "ctlpath", kind: "string", allowList: "valid_ctlpaths" },
  jailer_path: { key: "jailer_path", kind: "string", allowList: "valid_jailer_paths" },
  enable_iothreads: { key: "enable_iothreads", kind: "bool" },
  block_device_driver: { key: "block_device_driver", kind: "string" },
  disable_block_device_use: { key: "disable_block_device_use", kind: "bool" },
  block_device_cache_set: { key: "block_device_cache_set", kind: "bool" },
  block_device_cache_direct: { key: "block_device_cache_direct", kind: "bool" },
  block_device_cache_noflush: { key: "block_device_cache_noflush", kind: "bool" },
  disable_image_nvdimm: { key: "disable_image_nvdimm", kind: "bool" },
  memory_offset: { key: "memory_offset", kind: "u64" },
  enable_vhost_user_store: { key: "enable_vhost_user_store", kind: "bool" },
  vhost_user_store_path: {
    key: "vhost_user_store_path",
    kind: "string",
    allowList: "valid_vhost_user_store_paths",
  },
  kernel: { key: "kernel", kind: "string" },
  kernel_params: { key: "kernel_params", kind: "params" },
  kernel_verity_params: { key: "kernel_verity_params", kind: "string" },
  image: { key: "image", kind: "string" },
  initrd: { key: "initrd", kind: "string" },
  firmware: { key: "firmware", kind: "string" },
  cpu_features: { key: "cpu_features", kind: "string" },
  default_vcpus: { key: "default_vcpus", kind: "f32" },
  default_max_vcpus: { key: "default_maxvcpus", kind: "u32" },
  hotplug_vfio_on_root_bus: { key: "hotplug_vfio_on_root_bus", kind: "bool" },
  pcie_root_port: { key: "pcie_root_port", kind: "u32" },
  enable_iommu: { key: "enable_iommu", kind: "bool" },
  enable_iommu_platform: { key: "enable_iommu_platform", kind: "bool" },
  machine_type: { key: "machine_type", kind: "string" },
  machine_accelerators: { key: "machine_accelerators", kind: "string" },
  entropy_source: { key: "entropy_source", kind: "string", allowList: "valid_entropy_sources" },
  default_memory: { key: "default_memory", kind: "u32" },
  memory_slots: { key: "memory_slots", kind: "u32" },
  enable_mem_prealloc: { key: "enable_mem_prealloc", kind: "bool" },
  enable_hugepages: { key: "enable_hugepages", kind: "bool" },
  enable_virtio_mem: { key: "enable_virtio_mem", kind: "bool" },
  enable_guest_swap: { key: "enable_guest_swap", kind: "bool" },
  disable_vhost_net: { key: "disable_vhost_net", kind: "bool" },
  rx_rate_limiter_max_rate: { key: "rx_rate_limiter_max_rate", kind: "u64" },
  tx_rate_limiter_max_rate: { key: "tx_rate_limiter_max_rate", kind: "u64" },
  guest_hook_path: { key: "guest_hook_path", kind: "string" },
  rootless: { key: "rootless", kind: "bool" },
  shared_fs: { key: "shared_fs", kind: "string" },
  virtio_fs_daemon: {
    key: "virtio_fs_daemon",
    kind: "string",
    allowList: "valid_virtio_fs_daemon_paths",
  },
  virtio_fs_cache: { key: "virtio_fs_cache", kind: "string" },
  virtio_fs_cache_size: { key: "virtio_fs_cache_size", kind: "u32" },
  virtio_fs_extra_args: { key: "virtio_fs_extra_args", kind: "list" },
  default_gpus: { key: "default_gpus", kind: "u32" },
  default_gpu_model: { key: "default_gpu_model", kind: "string" },
  cc_init_data: { key: "initdata", kind: "string" },
};

/** Agent annotations: name after the prefix → `[agent.<name>]` key and kind. */
const AGENT_ANNOTATIONS: Record<string, { key: string; kind: Kind }> = {
  kernel_modules: { key: "kernel_modules", kind: "list" },
  enable_tracing: { key: "enable_tracing", kind: "bool" },
  container_pipe_size: { key: "container_pipe_size", kind: "u32" },
};

/** Runtime annotations: name after the prefix → `[runtime]` key and kind. */
const RUNTIME_ANNOTATIONS: Record<string, { key: string; kind: Kind }> = {
  disable_guest_seccomp: { key: "disable_guest_seccomp", kind: "bool" },
  enable_pprof: { key: "enable_pprof", kind: "bool" },
  experimental: { key: "experimental", kind: "list" },
  internetworking_model: { key: "internetworking_model", kind: "string" },
  sandbox_cgroup_only: { key: "sandbox_cgroup_only", kind: "bool" },
  disable_new_netns: { key: "disable_new_netns", kind: "bool" },
  vfio_mode: { key: "vfio_mode", kind: "string" },
};

/** Converts a `glob(3)` pattern (`*`, `?`, `[...]`) to an anchored regular expression. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end < 0) re += "\\[";
      else {
        let body = glob.slice(i + 1, end);
        if (body.startsWith("!")) body = `^${body.slice(1)}`;
        re += `[${body.replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

function convert(name: string, value: string, kind: Kind): unknown {
  const v = value.trim();
  const bad = (what: string) =>
    new ConfigError(`Annotation ${name} has invalid value ${JSON.stringify(value)}: ${what}`);
  switch (kind) {
    case "string":
    case "params":
      return v;
    case "bool":
      if (v === "true") return true;
      if (v === "false") return false;
      throw bad("expected true or false");
    case "u32":
    case "u64":
    case "i32": {
      if (!/^[+-]?\d+$/.test(v)) throw bad("expected an integer");
      const n = Number(v);
      const [lo, hi] = kind === "i32"
        ? [-2147483648, 2147483647]
        : [0, kind === "u32" ? 4294967295 : Number.MAX_SAFE_INTEGER];
      if (n < lo || n > hi) throw bad(`expected an integer in ${lo}..${hi}`);
      return n;
    }
    case "f32": {
      const n = Number(v);
      if (v === "" || !Number.isFinite(n)) throw bad("expected a number");
      return n;
    }
    case "list":
      // Upstream: kernel modules are ';'-separated, other lists ','-separated.
      return v === ""
        ? []
        : v.split(name.endsWith("kernel_modules") ? ";" : ",").map((s) => s.trim()).filter((s) =>
          s !== ""
        );
  }
}

/** Replaces `key=value` kernel parameters by key, appending new ones (upstream semantics). */
export function replaceKernelParams(current: string, update: string): string {
  const keyOf = (p: string) => (p.includes("=") ? p.slice(0, p.indexOf("=")) : p);
  const fresh = update.split(" ").map((p) => p.trim()).filter((p) => p !== "");
  if (fresh.length === 0) return current;
  const freshKeys = new Set(fresh.map(keyOf));
  const kept = current.split(" ").map((p) => p.trim()).filter((p) =>
    p !== "" && !freshKeys.has(keyOf(p))
  );
  return [...kept, ...fresh].join(" ");
}

/** True when `enable_annotations` (regular expressions) allows the hypervisor key `name`. */
export function isHypervisorAnnotationEnabled(enabled: readonly string[], name: string): boolean {
  return enabled.some((pattern) => {
    try {
      // Anchored, so "path" does not also open "jailer_path" (upstream matches unanchored).
      return new RegExp(`^(?:${pattern})$`).test(name);
    } catch {
      return false;
    }
  });
}

/**
 * Applies `annotations` to `config` in place (after drop-ins, before validation).
 * `hypervisorName` is the selected hypervisor; a `runtime.hypervisor_name`
 * annotation is applied by the caller before choosing it.
 * @throws ConfigError naming the annotation when it is refused or malformed
 */
export function applyAnnotations(
  config: KataConfig,
  hypervisorName: string,
  agentName: string,
  annotations: Record<string, string>,
  sources: Sources,
): void {
  for (const [name, value] of Object.entries(annotations).sort(([a], [b]) => a < b ? -1 : 1)) {
    if (!name.startsWith(CONFIG_ANNOTATION_PREFIX)) continue;
    const origin = `annotation ${name}`;
    if (name.startsWith(HV_PREFIX)) {
      const short = name.slice(HV_PREFIX.length);
      const hv = config.hypervisor[hypervisorName];
      if (config.runtime.name !== "virt_container") {
        throw new ConfigError(
          `Annotation ${name} does not apply: runtime ${config.runtime.name} runs no hypervisor`,
        );
      }
      if (!hv) {
        throw new ConfigError(
          `Annotation ${name} cannot be applied: no [hypervisor.${hypervisorName}] section`,
        );
      }
      if (!isHypervisorAnnotationEnabled(hv.enable_annotations, short)) {
        throw new ConfigError(
          `Annotation ${name} is not allowed: enable_annotations in [hypervisor.${hypervisorName}] of ${
            sources.of(["hypervisor", hypervisorName, "enable_annotations"])
          } does not enable "${short}"`,
        );
      }
      const target = HYPERVISOR_ANNOTATIONS[short];
      if (!target) {
        throw new ConfigError(`Annotation ${name} is not supported by this runtime`);
      }
      const v = convert(name, value, target.kind);
      if (target.allowList) {
        const patterns = hv[target.allowList] as string[];
        if (!patterns.some((p) => globToRegExp(p).test(v as string))) {
          throw new ConfigError(
            `Annotation ${name} value ${
              JSON.stringify(v)
            } is not allowed: it matches none of ${target.allowList} in [hypervisor.${hypervisorName}] (${
              patterns.length === 0 ? "empty list" : patterns.join(", ")
            })`,
          );
        }
      }
      const limits = HYPERVISOR_LIMITS[hypervisorName as HypervisorName];
      if (target.key === "default_vcpus" && limits?.maxVcpus !== undefined) {
        if ((v as number) > limits.maxVcpus) {
          throw new ConfigError(
            `Annotation ${name} asks for ${v} vCPUs, more than ${hypervisorName}'s maximum ${limits.maxVcpus}`,
          );
        }
      }
      if (target.key === "default_memory" && limits?.minMemoryMiB !== undefined) {
        if ((v as number) < limits.minMemoryMiB) {
          throw new ConfigError(
            `Annotation ${name} asks for ${v} MiB, less than ${hypervisorName}'s minimum ${limits.minMemoryMiB} MiB`,
          );
        }
      }
      const rec = hv as unknown as Record<string, unknown>;
      rec[target.key] = target.kind === "params"
        ? replaceKernelParams(hv.kernel_params, v as string)
        : v;
      sources.set(["hypervisor", hypervisorName, target.key], origin);
    } else if (name.startsWith(AGENT_PREFIX)) {
      const target = AGENT_ANNOTATIONS[name.slice(AGENT_PREFIX.length)];
      if (!target) throw new ConfigError(`Annotation ${name} is not supported by this runtime`);
      const agent = config.agent[agentName];
      if (!agent) {
        throw new ConfigError(
          `Annotation ${name} cannot be applied: no [agent.${agentName}] section`,
        );
      }
      (agent as unknown as Record<string, unknown>)[target.key] = convert(
        name,
        value,
        target.kind,
      );
      sources.set(["agent", agentName, target.key], origin);
    } else if (name.startsWith(RUNTIME_PREFIX)) {
      const short = name.slice(RUNTIME_PREFIX.length);
      // name/hypervisor_name/agent_name are chosen before this runs (see load.ts).
      if (short === "name" || short === "hypervisor_name" || short === "agent_name") continue;
      const target = RUNTIME_ANNOTATIONS[short];
      if (!target) throw new ConfigError(`Annotation ${name} is not supported by this runtime`);
      (config.runtime as unknown as Record<string, unknown>)[target.key] = convert(
        name,
        value,
        target.kind,
      );
      sources.set(["runtime", target.key], origin);
    } else {
      throw new ConfigError(`Annotation ${name} is not supported by this runtime`);
    }
  }
}

/**
 * Applies the selection annotations (`runtime.name`, `runtime.hypervisor_name`,
 * `runtime.agent_name`) that must be known before the others.
 * @throws ConfigError when one names a runtime, hypervisor or agent the file lacks
 */
export function applySelectionAnnotations(
  config: KataConfig,
  annotations: Record<string, string>,
  sources: Sources,
): void {
  const pick = (short: "name" | "hypervisor_name" | "agent_name", tables?: object) => {
    const name = `${RUNTIME_PREFIX}${short}`;
    const value = annotations[name]?.trim();
    if (value === undefined) return;
    if (tables && !(value in tables)) {
      throw new ConfigError(
        `Annotation ${name} names ${
          JSON.stringify(value)
        }, which has no section in ${sources.main}`,
      );
    }
    config.runtime[short] = value;
    sources.set(["runtime", short], `annotation ${name}`);
  };
  pick("name");
  pick("hypervisor_name", config.hypervisor);
  pick("agent_name", config.agent);
}
