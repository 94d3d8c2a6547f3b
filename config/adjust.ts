/**
 * Fills what a file leaves unset, as upstream's `adjust_config` does, in two
 * steps: {@link fillDefaults} before validation (empty strings and zeros
 * become upstream defaults) and {@link fitToHost} after it (vCPU and memory
 * ceilings follow the host).
 * @module
 */
import { DEFAULT_HYPERVISOR, HYPERVISOR_LIMITS } from "./limits.ts";
import { agentSchema, type HypervisorName, type KataConfig } from "./schema.ts";

/** What the host offers, for {@link fitToHost}; injectable for tests. */
export interface HostResources {
  cpus: number;
  memoryMiB: number;
}

/** Reads the host's CPU count and memory size (MemTotal of /proc/meminfo). */
export function hostResources(): HostResources {
  let memoryMiB = 0;
  try {
    const m = /^MemTotal:\s+(\d+)\s+kB/m.exec(Deno.readTextFileSync("/proc/meminfo"));
    if (m) memoryMiB = Math.floor(Number(m[1]) / 1024);
  } catch {
    // No /proc (not Linux): leave memory unbounded rather than fail.
  }
  return { cpus: navigator.hardwareConcurrency || 1, memoryMiB };
}

/**
 * Chooses runtime, hypervisor and agent names when the file leaves them empty:
 * `virt_container`; the only `[hypervisor.*]` table (else upstream's default,
 * dragonball); `kata`. Adds a default `[agent.kata]` when the file has none.
 */
export function fillSelection(config: KataConfig): void {
  const rt = config.runtime;
  if (rt.name === "") rt.name = "virt_container";
  if (rt.hypervisor_name === "") {
    const names = Object.keys(config.hypervisor);
    if (rt.name === "virt_container") {
      rt.hypervisor_name = names.length === 1 ? names[0] : DEFAULT_HYPERVISOR;
    }
  }
  if (rt.agent_name === "" && rt.name === "virt_container") rt.agent_name = "kata";
  if (rt.agent_name === "kata" && !config.agent.kata) config.agent.kata = agentSchema.parse({});
}

/** Replaces empty strings and zeros with upstream's defaults (before validation). */
export function fillDefaults(config: KataConfig): void {
  for (const [name, hv] of Object.entries(config.hypervisor)) {
    const limits = HYPERVISOR_LIMITS[name as HypervisorName];
    if (hv.disable_block_device_use) {
      hv.block_device_driver = "";
      hv.enable_vhost_user_store = false;
      hv.memory_offset = 0;
    } else if (hv.block_device_driver === "") hv.block_device_driver = "virtio-blk-pci";
    if (hv.block_device_aio === "") hv.block_device_aio = "io_uring";
    if (!hv.enable_vhost_user_store) hv.vhost_user_store_path = "";
    else if (hv.vhost_user_store_path === "") hv.vhost_user_store_path = "/var/run/vhost-user";
    if (hv.vm_rootfs_driver === "") hv.vm_rootfs_driver = "virtio-blk-pci";
    if (hv.shared_fs === "") hv.shared_fs = "virtio-fs";
    // "none" as a cache mode is upstream's deprecated spelling of "never".
    if (hv.virtio_fs_cache === "" || hv.virtio_fs_cache === "none") hv.virtio_fs_cache = "never";
    if (hv.virtio_fs_cache_size !== 0) hv.virtio_fs_is_dax = true;
    else if (hv.virtio_fs_is_dax) hv.virtio_fs_cache_size = 1024;
    if (hv.extra_monitor_socket === "" && hv.dbg_monitor_socket !== "") {
      hv.extra_monitor_socket = hv.dbg_monitor_socket;
    }
    if (hv.default_vcpus === 0) hv.default_vcpus = 1;
    if (hv.default_memory === 0) hv.default_memory = limits.defaultMemoryMiB;
    if (hv.memory_slots === 0) hv.memory_slots = limits.defaultMemorySlots;
    if (hv.default_bridges > 5) hv.default_bridges = 5;
    if (hv.network_queues === 0) hv.network_queues = 1;
    if (hv.network_queues > 256) hv.network_queues = 256;
    if (hv.num_queues === 0) hv.num_queues = 1;
    if (hv.queue_size === 0) hv.queue_size = 128;
    if (hv.cpu_features !== "") {
      hv.cpu_features = hv.cpu_features.split(",").map((f) => f.trim()).join(",");
    }
    if (hv.factory.template_path === "") hv.factory.template_path = "/run/vc/vm/template";
    if (name === "qemu") {
      if (hv.path === "") hv.path = "/usr/bin/qemu-system-x86_64";
      if (hv.machine_type === "") hv.machine_type = "q35";
      if (hv.rootfs_type === "") hv.rootfs_type = "ext4";
    }
    if (name !== "remote" && hv.entropy_source === "") hv.entropy_source = "/dev/urandom";
  }
  const rt = config.runtime;
  if (rt.internetworking_model === "") rt.internetworking_model = "tcfilter";
  if (rt.emptydir_mode === "") rt.emptydir_mode = "shared-fs";
}

/** Fits vCPU and memory values to the host (after validation), like upstream. */
export function fitToHost(config: KataConfig, host: HostResources): void {
  for (const hv of Object.values(config.hypervisor)) {
    const cpus = host.cpus;
    if (hv.default_maxvcpus === 0 || hv.default_maxvcpus > cpus) hv.default_maxvcpus = cpus;
    if (hv.default_vcpus < 0 || hv.default_vcpus > cpus) hv.default_vcpus = cpus;
    if (hv.default_vcpus > hv.default_maxvcpus) hv.default_vcpus = hv.default_maxvcpus;
    if (host.memoryMiB > 0) {
      if (hv.default_memory > host.memoryMiB) hv.default_memory = host.memoryMiB;
      if (hv.default_maxmemory === 0 || hv.default_maxmemory > host.memoryMiB) {
        hv.default_maxmemory = host.memoryMiB;
      }
    }
  }
}
