/**
 * Zod schemas of the Kata runtime-rs configuration file, one per section.
 *
 * Upstream keeps one hypervisor structure that is the superset of every
 * hypervisor's keys, so any `[hypervisor.<name>]` table accepts any known
 * hypervisor key; we do the same. Every table is strict: an unknown key is an
 * error (upstream `deny_unknown_fields`). Missing keys take upstream's serde
 * defaults, so a parsed configuration is always complete.
 * @module
 */
import * as z from "../common/zod.ts";

const U32_MAX = 4294967295;

const str = (d = "") => z._default(z.string(), d);
const bool = (d = false) => z._default(z.boolean(), d);
const strList = () => z._default(z.array(z.string()), []);
const u32 = (d = 0) => z._default(z.number().check(z.int(), z.minimum(0), z.maximum(U32_MAX)), d);
const i32 = (d = 0) =>
  z._default(z.number().check(z.int(), z.minimum(-2147483648), z.maximum(2147483647)), d);
/** A u64 that stays a JS number (values up to 2^53); bigger TOML integers are refused. */
const u64 = (d = 0) => z._default(z.number().check(z.int(), z.minimum(0)), d);
/** A u64 that may exceed 2^53 (upstream ships `i64::MAX` in one key): number or bigint. */
const u64Big = (d: number | bigint = 0) =>
  z._default(
    z.union([
      z.number().check(z.int(), z.minimum(0)),
      z.bigint().check(z.minimum(0n), z.maximum(18446744073709551615n)),
    ]),
    d,
  );
const f32 = (d = 0) => z._default(z.number(), d);

/** Hypervisor names this runtime knows, as used in `[hypervisor.<name>]` and `hypervisor_name`. */
export const HYPERVISOR_NAMES = [
  "dragonball",
  "qemu",
  "clh",
  "firecracker",
  "remote",
  "openvmm",
] as const;
/** One of {@link HYPERVISOR_NAMES}. */
export type HypervisorName = typeof HYPERVISOR_NAMES[number];

/** Agent names, as used in `[agent.<name>]` and `agent_name`. */
export const AGENT_NAMES = ["kata"] as const;

/** Runtime kinds accepted in `[runtime] name`. */
export const RUNTIME_NAMES = ["virt_container", "linux_container", "wasm_container"] as const;
/** One of {@link RUNTIME_NAMES}. */
export type RuntimeName = typeof RUNTIME_NAMES[number];

/** `[hypervisor.<name>.factory]`: VM templating. */
const factorySchema = z.strictObject({
  enable_template: bool(),
  template_path: str(),
});

/** `rootless_user` inline table of a hypervisor section. */
const rootlessUserSchema = z.strictObject({
  uid: u32(),
  gid: u32(),
  groups: z._default(z.array(z.number().check(z.int(), z.minimum(0), z.maximum(U32_MAX))), []),
  user_name: str(),
});

/** One extra read-only block image (CoCo / GPU guest extension). */
const extraImageSchema = z.strictObject({
  name: z.string(),
  path: str(),
  verity_params: str(),
});

/** `[hypervisor.<name>]`: the superset of every hypervisor's keys. */
export const hypervisorSchema = z.strictObject({
  // executables and the annotation allow-lists for them
  path: str(),
  valid_hypervisor_paths: strList(),
  ctlpath: str(),
  valid_ctlpaths: strList(),
  jailer_path: str(),
  valid_jailer_paths: strList(),
  disable_nesting_checks: bool(),
  disable_nested_virtualization: bool(),
  enable_iothreads: bool(),
  indep_iothreads: u32(),

  // block devices
  disable_block_device_use: bool(),
  block_device_driver: str(),
  block_device_aio: str(),
  block_device_cache_set: bool(),
  block_device_cache_direct: bool(),
  block_device_cache_noflush: bool(),
  block_device_logical_sector_size: u32(),
  block_device_physical_sector_size: u32(),
  disable_image_nvdimm: bool(),
  memory_offset: u64(),
  enable_vhost_user_store: bool(),
  vhost_user_store_path: str(),
  valid_vhost_user_store_paths: strList(),
  vhost_user_reconnect_timeout_sec: u32(),
  disk_rate_limiter_bw_max_rate: u64(),
  disk_rate_limiter_bw_one_time_burst: u64(),
  disk_rate_limiter_ops_max_rate: u64(),
  disk_rate_limiter_ops_one_time_burst: u64(),
  queue_size: u32(),
  num_queues: u32(),

  // guest boot
  kernel: str(),
  kernel_params: str(),
  kernel_verity_params: str(),
  initrd: str(),
  image: str(),
  rootfs_type: str(),
  firmware: str(),
  firmware_volume: str(),
  vm_rootfs_driver: str(),
  guest_extension_images: z._default(z.array(extraImageSchema), []),
  extra_images: z._default(z.array(extraImageSchema), []),

  // cpu
  cpu_features: str(),
  default_vcpus: f32(),
  default_maxvcpus: u32(),
  overhead_vcpus: f32(),

  // debug
  enable_debug: bool(),
  log_level: str("info"),
  guest_memory_dump_paging: bool(),
  guest_memory_dump_path: str(),
  extra_monitor_socket: str(),
  dbg_monitor_socket: str(),
  use_legacy_serial: bool(),

  // devices
  default_bridges: u32(),
  hotplug_vfio_on_root_bus: bool(),
  cold_plug_vfio: str(),
  pcie_root_port: u32(),
  pcie_switch_port: u32(),
  enable_iommu: bool(),
  enable_iommu_platform: bool(),
  reclaim_guest_freed_memory: bool(),

  // machine
  machine_type: str(),
  machine_accelerators: str(),
  pflashes: strList(),
  entropy_source: str(),
  valid_entropy_sources: strList(),

  // memory
  default_memory: u32(),
  default_maxmemory: u32(),
  overhead_memory: u32(),
  memory_slots: u32(),
  enable_mem_prealloc: bool(),
  enable_hugepages: bool(),
  hugepage_type: z._default(z.enum(["hugetlbfs", "thp"]), "hugetlbfs"),
  enable_virtio_mem: bool(),
  enable_guest_swap: bool(),
  guest_swap_path: str("/run/kata-containers/swap"),
  guest_swap_size_percent: u64(100),
  guest_swap_create_threshold_secs: u64(60),

  // network
  disable_vhost_net: bool(),
  rx_rate_limiter_max_rate: u64(),
  tx_rate_limiter_max_rate: u64(),
  network_queues: u32(),

  // security
  rootless: bool(),
  rootless_user: z.optional(rootlessUserSchema),
  disable_seccomp: bool(),
  confidential_guest: bool(),
  sev_snp_guest: bool(),
  snp_id_block: str(),
  snp_id_auth: str(),
  snp_guest_policy: u32(0x30000),
  guest_hook_path: str(),
  initdata: str(),
  enable_annotations: strList(),
  tdx_quote_generation_service_socket_port: u32(4050),
  seccomp_sandbox: str(),
  selinux_label: str(),
  disable_guest_selinux: bool(true),
  disable_selinux: bool(),

  // shared file system
  shared_fs: str(),
  virtio_fs_daemon: str(),
  valid_virtio_fs_daemon_paths: strList(),
  virtio_fs_extra_args: strList(),
  virtio_fs_cache: str(),
  virtio_fs_cache_size: u32(),
  virtio_fs_queue_size: u32(),
  virtio_fs_is_dax: bool(),

  // remote hypervisor (peer pods)
  remote_hypervisor_socket: str(),
  remote_hypervisor_timeout: i32(),
  default_gpus: u32(),
  default_gpu_model: str(),

  // VM templating
  boot_to_be_template: bool(),
  boot_from_template: bool(),
  memory_path: str(),
  device_state_path: str(),
  factory: z.prefault(factorySchema, {}),
  prefetch_list_path: str(),
});
/** A parsed `[hypervisor.<name>]` table. */
export type HypervisorConfig = z.infer<typeof hypervisorSchema>;

/** `[agent.kata.mem_agent]`: the guest memory agent. */
const memAgentSchema = z.strictObject({
  mem_agent_enable: bool(),
  memcg_disable: bool(),
  memcg_swap: bool(),
  memcg_swappiness_max: u32(50),
  memcg_period_secs: u64(600),
  memcg_period_psi_percent_limit: u32(1),
  memcg_eviction_psi_percent_limit: u32(1),
  memcg_eviction_run_aging_count_min: u64(3),
  compact_disable: bool(),
  compact_period_secs: u64(600),
  compact_period_psi_percent_limit: u32(1),
  compact_psi_percent_limit: u32(5),
  compact_sec_max: i32(300),
  compact_order: u32(9),
  compact_threshold: u64(1024),
  compact_force_times: u64Big(9223372036854775807n),
});

/** `[agent.kata]`: the in-guest agent and how the runtime talks to it. */
export const agentSchema = z.strictObject({
  enable_debug: bool(),
  log_level: str("info"),
  enable_tracing: bool(),
  debug_console_enabled: bool(),
  server_port: u32(1024),
  log_port: u32(1025),
  dial_timeout_ms: u32(10),
  reconnect_timeout_ms: u32(3000),
  request_timeout_ms: u32(30000),
  health_check_request_timeout_ms: u32(90000),
  create_container_timeout: u32(30),
  cdh_api_timeout_ms: u32(50000),
  launch_process_timeout: u32(6),
  kernel_modules: strList(),
  container_pipe_size: u32(),
  visible_cdi_devices: bool(),
  mem_agent: z.prefault(memAgentSchema, {}),
});
/** A parsed `[agent.<name>]` table. */
export type AgentConfig = z.infer<typeof agentSchema>;

/** One `[[runtime.shared_mounts]]` entry (sharing a path between containers). */
const sharedMountSchema = z.strictObject({
  name: z.string(),
  src_ctr: z.string(),
  src_path: z.string(),
  dst_ctr: z.string(),
  dst_path: z.string(),
});

/** `[runtime]`: the shim's own settings. */
export const runtimeSchema = z.strictObject({
  name: str(),
  hypervisor_name: str(),
  agent_name: str(),
  enable_debug: bool(),
  log_level: str("info"),
  experimental: strList(),
  internetworking_model: str(),
  disable_new_netns: bool(),
  sandbox_bind_mounts: strList(),
  sandbox_cgroup_only: bool(),
  enable_vcpus_pinning: bool(),
  enable_tracing: bool(),
  jaeger_endpoint: str(),
  jaeger_user: str(),
  jaeger_password: str(),
  enable_pprof: bool(),
  static_sandbox_resource_mgmt: bool(),
  disable_guest_seccomp: bool(),
  emptydir_mode: str(),
  vfio_mode: str(),
  keep_abnormal: bool(),
  dan_conf: str(),
  shared_mounts: z._default(z.array(sharedMountSchema), []),
  use_passfd_io: bool(),
  passfd_listener_port: u32(1027),
  pod_resource_api_sock: str(),
  kubelet_root_dir: str(),
});
/** A parsed `[runtime]` table. */
export type RuntimeConfig = z.infer<typeof runtimeSchema>;

/**
 * `[linux_container]` (ours, not upstream): settings of the LinuxContainer
 * runtime, which runs containers on the host through an OCI runtime.
 */
export const linuxContainerSchema = z.strictObject({
  /** `runc`, `crun`, or an absolute path to an OCI runtime binary. */
  oci_runtime: str("runc"),
  /** State directory passed to the OCI runtime as `--root`. */
  oci_runtime_root: str("/run/kata-containers/linux-container"),
});
/** A parsed `[linux_container]` table. */
export type LinuxContainerConfig = z.infer<typeof linuxContainerSchema>;

/** The whole configuration after parsing (all tables complete). */
export interface KataConfig {
  hypervisor: Record<string, HypervisorConfig>;
  agent: Record<string, AgentConfig>;
  runtime: RuntimeConfig;
  linux_container: LinuxContainerConfig;
}

/** Top-level tables a file may contain. */
export const TOP_LEVEL_TABLES = ["hypervisor", "agent", "runtime", "linux_container"] as const;
