/**
 * Semantic validation of a parsed configuration, following upstream
 * kata-types' `validate()` rules. Every message names the key, its section
 * and the file (or annotation) that set it. Missing files on the host are not
 * checked here: see `paths.ts`.
 * @module
 */
import { ConfigError } from "../common/errors.ts";
import { HYPERVISOR_LIMITS } from "./limits.ts";
import { RUNTIME_NAMES } from "./schema.ts";
import type { HypervisorConfig, HypervisorName, KataConfig } from "./schema.ts";
import type { Sources } from "./sources.ts";

/** Block drivers upstream accepts for `block_device_driver` and `vm_rootfs_driver`. */
const BLOCK_DRIVERS = [
  "virtio-blk-pci",
  "virtio-blk-ccw",
  "virtio-blk-mmio",
  "virtio-pmem",
  "virtio-scsi",
] as const;
/** Accepted `internetworking_model` values ("" means the default, tcfilter). */
const INTERNETWORKING_MODELS = ["", "tcfilter", "macvtap", "none", "l3forwarding"] as const;
const BLOCK_AIO = ["io_uring", "native", "threads"];
// virtio-9p is not upstream runtime-rs (it is Kata's Go runtime); QEMU and the built-in VMM serve it.
const SHARED_FS = ["virtio-fs", "virtio-9p", "inline-virtio-fs", "virtio-fs-nydus", "none"];
const VIRTIO_FS_CACHE = ["never", "auto", "always"];
const COLD_PLUG_VFIO = ["", "no-port", "root-port", "switch-port", "bridge-port"];
const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "critical"];
const VFIO_MODES = ["", "vfio", "guest-kernel"];
const EMPTYDIR_MODES = ["shared-fs", "block-encrypted", "block-plain"];

/** Parses upstream's `kernel_verity_params` (`root_hash=..,salt=..,data_blocks=..,...`). */
export function checkVerityParams(params: string): string | undefined {
  if (params.trim() === "") return undefined;
  const values = new Map<string, string>();
  for (const raw of params.split(",")) {
    const field = raw.trim();
    if (field === "") continue;
    const eq = field.indexOf("=");
    if (eq <= 0) return `entry "${field}" is not key=value`;
    values.set(field.slice(0, eq), field.slice(eq + 1));
  }
  if (!values.get("root_hash")) return "root_hash is missing";
  if (!values.get("salt")) return "salt is missing";
  for (const k of ["data_blocks", "data_block_size", "hash_block_size"]) {
    const v = values.get(k);
    if (!v || !/^\d+$/.test(v)) return `${k} is missing or not a number`;
    if (Number(v) === 0) return `${k} must be non-zero`;
    if (k !== "data_blocks" && Number(v) % 512 !== 0) return `${k} must be a multiple of 512`;
  }
  return undefined;
}

function sectorSizeOk(size: number): boolean {
  return size === 0 || (size >= 512 && size <= 65536 && (size & (size - 1)) === 0);
}

class Problems {
  readonly list: string[] = [];
  constructor(readonly sources: Sources) {}
  /** Adds a problem about `key` of `section` (path of the table). */
  add(section: string[], key: string, reason: string): void {
    this.list.push(
      `${key} in section [${section.join(".")}] of ${
        this.sources.of([...section, key])
      }: ${reason}`,
    );
  }
}

function oneOf(list: readonly string[]): string {
  return list.filter((v) => v !== "").map((v) => JSON.stringify(v)).join(", ");
}

function validateHypervisor(name: string, hv: HypervisorConfig, p: Problems): void {
  const s = ["hypervisor", name];
  const limits = HYPERVISOR_LIMITS[name as HypervisorName];
  if (!hv.disable_block_device_use && !BLOCK_DRIVERS.includes(hv.block_device_driver as never)) {
    p.add(
      s,
      "block_device_driver",
      `"${hv.block_device_driver}" is not one of ${oneOf(BLOCK_DRIVERS)}`,
    );
  }
  if (!BLOCK_AIO.includes(hv.block_device_aio)) {
    p.add(s, "block_device_aio", `"${hv.block_device_aio}" is not one of ${oneOf(BLOCK_AIO)}`);
  }
  for (
    const k of ["block_device_logical_sector_size", "block_device_physical_sector_size"] as const
  ) {
    if (!sectorSizeOk(hv[k])) p.add(s, k, `${hv[k]} is not 0 or a power of 2 in 512..65536`);
  }
  const logical = hv.block_device_logical_sector_size;
  const physical = hv.block_device_physical_sector_size;
  if (logical !== 0 && physical !== 0 && logical > physical) {
    p.add(
      s,
      "block_device_logical_sector_size",
      `${logical} is larger than block_device_physical_sector_size ${physical}`,
    );
  }
  if (!BLOCK_DRIVERS.includes(hv.vm_rootfs_driver as never)) {
    p.add(s, "vm_rootfs_driver", `"${hv.vm_rootfs_driver}" is not one of ${oneOf(BLOCK_DRIVERS)}`);
  }
  if (hv.image !== "" && hv.initrd !== "") {
    p.add(s, "initrd", "image and initrd are both set; boot from one of them");
  }
  const verity = checkVerityParams(hv.kernel_verity_params);
  if (verity) p.add(s, "kernel_verity_params", verity);
  for (const k of ["guest_extension_images", "extra_images"] as const) {
    hv[k].forEach((img, i) => {
      if (img.name === "") p.add(s, `${k}[${i}].name`, "must not be empty");
      const v = checkVerityParams(img.verity_params);
      if (v) p.add(s, `${k}[${i}].verity_params`, v);
    });
  }
  if (hv.default_maxvcpus > 0 && hv.default_vcpus > hv.default_maxvcpus) {
    p.add(
      s,
      "default_vcpus",
      `${hv.default_vcpus} is greater than default_maxvcpus ${hv.default_maxvcpus}`,
    );
  }
  if (limits?.maxVcpus !== undefined) {
    if (hv.default_vcpus > limits.maxVcpus) {
      p.add(
        s,
        "default_vcpus",
        `${name} supports at most ${limits.maxVcpus} vCPUs, not ${hv.default_vcpus}`,
      );
    }
    if (hv.default_maxvcpus > limits.maxVcpus) {
      p.add(
        s,
        "default_maxvcpus",
        `${name} supports at most ${limits.maxVcpus} vCPUs, not ${hv.default_maxvcpus}`,
      );
    }
  }
  if (limits?.minMemoryMiB !== undefined && hv.default_memory < limits.minMemoryMiB) {
    p.add(
      s,
      "default_memory",
      `${hv.default_memory} MiB is below ${name}'s minimum of ${limits.minMemoryMiB} MiB`,
    );
  }
  if (hv.pcie_root_port > 0 && hv.pcie_switch_port > 0) {
    p.add(s, "pcie_switch_port", "pcie_root_port and pcie_switch_port cannot both be set");
  }
  if (!SHARED_FS.includes(hv.shared_fs)) {
    p.add(s, "shared_fs", `"${hv.shared_fs}" is not one of ${oneOf(SHARED_FS)}`);
  } else if (hv.shared_fs !== "none" && !VIRTIO_FS_CACHE.includes(hv.virtio_fs_cache)) {
    p.add(s, "virtio_fs_cache", `"${hv.virtio_fs_cache}" is not one of ${oneOf(VIRTIO_FS_CACHE)}`);
  }
  if (!COLD_PLUG_VFIO.includes(hv.cold_plug_vfio)) {
    p.add(s, "cold_plug_vfio", `"${hv.cold_plug_vfio}" is not one of ${oneOf(COLD_PLUG_VFIO)}`);
  }
  if (!LOG_LEVELS.includes(hv.log_level)) {
    p.add(s, "log_level", `"${hv.log_level}" is not one of ${oneOf(LOG_LEVELS)}`);
  }
  if (name === "qemu") {
    if (hv.jailer_path !== "") p.add(s, "jailer_path", "QEMU has no jailer; leave it empty");
    if (hv.valid_jailer_paths.length > 0) {
      p.add(s, "valid_jailer_paths", "QEMU has no jailer; leave it empty");
    }
    if (!hv.disable_block_device_use && hv.block_device_driver === "virtio-blk-mmio") {
      p.add(s, "block_device_driver", "QEMU does not support virtio-blk-mmio");
    }
    if (hv.confidential_guest && hv.vm_rootfs_driver === "virtio-blk-mmio") {
      p.add(s, "vm_rootfs_driver", "confidential guests must not use virtio-blk-mmio");
    }
    if (hv.kernel === "") p.add(s, "kernel", "the guest kernel must be set");
    // Confidential variants (e.g. IBM SE) boot from one image and need neither.
    if (hv.image === "" && hv.initrd === "" && !hv.confidential_guest) {
      p.add(s, "image", "neither image nor initrd is set");
    }
    if (hv.enable_guest_swap) p.add(s, "enable_guest_swap", "QEMU does not support guest swap");
  }
  if (name === "firecracker") {
    if (hv.path === "") p.add(s, "path", "the Firecracker binary must be set");
    if (hv.kernel === "") p.add(s, "kernel", "the guest kernel must be set");
    if (hv.image === "") p.add(s, "image", "Firecracker needs a guest image");
  }
}

/**
 * Validates `config` (after defaults were filled). Throws one
 * {@link ConfigError} listing every problem.
 */
export function validateConfig(config: KataConfig, sources: Sources): void {
  const p = new Problems(sources);
  for (const [name, hv] of Object.entries(config.hypervisor)) validateHypervisor(name, hv, p);
  for (const [name, agent] of Object.entries(config.agent)) {
    if (!LOG_LEVELS.includes(agent.log_level)) {
      p.add(
        ["agent", name],
        "log_level",
        `"${agent.log_level}" is not one of ${oneOf(LOG_LEVELS)}`,
      );
    }
  }
  const rt = config.runtime;
  const r = ["runtime"];
  if (!RUNTIME_NAMES.includes(rt.name as never)) {
    p.add(r, "name", `"${rt.name}" is not one of ${oneOf(RUNTIME_NAMES)}`);
  }
  if (rt.name === "virt_container") {
    if (!(rt.hypervisor_name in config.hypervisor)) {
      const have = Object.keys(config.hypervisor).map((n) => `[hypervisor.${n}]`);
      p.add(
        r,
        "hypervisor_name",
        `"${rt.hypervisor_name}" names no hypervisor section (the file has ${
          have.length ? have.join(", ") : "none"
        })`,
      );
    }
    if (!(rt.agent_name in config.agent)) {
      p.add(r, "agent_name", `"${rt.agent_name}" names no [agent.*] section`);
    }
  }
  if (!INTERNETWORKING_MODELS.includes(rt.internetworking_model as never)) {
    p.add(
      r,
      "internetworking_model",
      `"${rt.internetworking_model}" is not one of ${oneOf(INTERNETWORKING_MODELS)}`,
    );
  }
  if (rt.disable_new_netns && rt.internetworking_model !== "none") {
    p.add(
      r,
      "disable_new_netns",
      `works only with internetworking_model = "none", not "${rt.internetworking_model}"`,
    );
  }
  if (!VFIO_MODES.includes(rt.vfio_mode)) {
    p.add(r, "vfio_mode", `"${rt.vfio_mode}" is not one of ${oneOf(VFIO_MODES)}`);
  }
  if (!EMPTYDIR_MODES.includes(rt.emptydir_mode)) {
    p.add(r, "emptydir_mode", `"${rt.emptydir_mode}" is not one of ${oneOf(EMPTYDIR_MODES)}`);
  }
  if (!LOG_LEVELS.includes(rt.log_level)) {
    p.add(r, "log_level", `"${rt.log_level}" is not one of ${oneOf(LOG_LEVELS)}`);
  }
  const oci = config.linux_container.oci_runtime;
  if (oci !== "runc" && oci !== "crun" && !oci.startsWith("/")) {
    p.add(
      ["linux_container"],
      "oci_runtime",
      `"${oci}" is neither "runc", "crun" nor an absolute path`,
    );
  }
  if (p.list.length > 0) throw new ConfigError(p.list.join("; "));
}
