/**
 * Per-hypervisor bounds and defaults from upstream kata-types (the hypervisor
 * "plugins"): maximum vCPUs, minimum memory, and what an unset value becomes.
 * @module
 */
import type { HypervisorName } from "./schema.ts";

/** Bounds and defaults of one hypervisor. */
interface HypervisorLimits {
  /** Most vCPUs one VM may have (`default_vcpus` and `default_maxvcpus`). */
  maxVcpus?: number;
  /** Smallest `default_memory` in MiB. */
  minMemoryMiB?: number;
  /** `default_memory` when the file leaves it 0. */
  defaultMemoryMiB: number;
  /** `memory_slots` when the file leaves it 0. */
  defaultMemorySlots: number;
}

/** Upstream values; remote and openvmm have no plugin bounds upstream. */
export const HYPERVISOR_LIMITS: Record<HypervisorName, HypervisorLimits> = {
  dragonball: { maxVcpus: 256, minMemoryMiB: 64, defaultMemoryMiB: 128, defaultMemorySlots: 128 },
  qemu: { maxVcpus: 256, minMemoryMiB: 64, defaultMemoryMiB: 128, defaultMemorySlots: 128 },
  clh: { maxVcpus: 256, minMemoryMiB: 64, defaultMemoryMiB: 128, defaultMemorySlots: 128 },
  firecracker: {
    maxVcpus: 32,
    minMemoryMiB: 128,
    defaultMemoryMiB: 128,
    defaultMemorySlots: 128,
  },
  remote: { defaultMemoryMiB: 2048, defaultMemorySlots: 128 },
  openvmm: { defaultMemoryMiB: 2048, defaultMemorySlots: 128 },
};

/** Upstream's built-in default hypervisor when `[runtime] hypervisor_name` is empty. */
export const DEFAULT_HYPERVISOR: HypervisorName = "dragonball";
