/**
 * Config keys a driver does not implement: set to a non-default value they
 * fail loudly at sandbox creation instead of being ignored.
 * @module
 */
import { ConfigError } from "../common/errors.ts";

/** A config table, as far as this check reads it. */
export type ConfigTable = Record<string, unknown>;

/** Keys no driver here implements. */
export const UNSUPPORTED_EVERYWHERE = [
  "enable_hugepages",
  "enable_mem_prealloc",
  "enable_iommu",
  "enable_iommu_platform",
  "confidential_guest",
  "sev_snp_guest",
  "enable_vhost_user_store",
  "hotplug_vfio_on_root_bus",
  "boot_to_be_template",
  "boot_from_template",
  "rootless",
  "guest_memory_dump_path",
  "initdata",
] as const;

/** Keys the QEMU driver does not implement (beyond {@link UNSUPPORTED_EVERYWHERE}). */
export const UNSUPPORTED_QEMU = [
  "enable_iothreads",
  "enable_virtio_mem",
  "extra_monitor_socket",
  "pflashes",
  "seccomp_sandbox",
  "firmware_volume",
] as const;

/** Keys the built-in VMM (`dragonball`) does not implement (beyond {@link UNSUPPORTED_EVERYWHERE}). */
export const UNSUPPORTED_DRAGONBALL = [
  "enable_virtio_mem",
  "enable_iothreads",
  "extra_monitor_socket",
  "pflashes",
  "firmware",
  "firmware_volume",
  "seccomp_sandbox",
] as const;

/** Whether `v` differs from a key's off/empty default. */
function isSet(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === "" || v === 0) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.keys(v as object).length > 0;
  return true;
}

/**
 * Throws a ConfigError naming every key of `keys` that `table` sets, e.g.
 * `[hypervisor.qemu] enable_hugepages is not supported by the QEMU driver`.
 */
export function refuseUnsupportedKeys(
  table: ConfigTable,
  section: string,
  driver: string,
  keys: readonly string[],
): void {
  const set = keys.filter((k) => isSet(table[k]));
  if (set.length === 0) return;
  const list = set.join(", ");
  throw new ConfigError(
    `[hypervisor.${section}] ${list} ${
      set.length === 1 ? "is" : "are"
    } not supported by the ${driver} driver`,
  );
}
