/**
 * Builds the VM driver a loaded configuration selects (`[runtime]
 * hypervisor_name` and its `[hypervisor.<name>]` table). QEMU and Firecracker
 * have drivers here; the built-in VMM joins through {@link HypervisorSelectOptions.builtin}
 * until its driver module lands; Cloud Hypervisor and the remote hypervisor
 * are refused with a clear "not supported" error.
 * @module
 */
import { ConfigError, UnimplementedError } from "../common/errors.ts";
import type { HypervisorConfig } from "../config/schema.ts";
import type { Hypervisor } from "./hypervisor.ts";
import { Firecracker } from "./firecracker/firecracker.ts";
import { firecrackerOptionsFromConfig } from "./firecracker/options.ts";
import { Qemu } from "./qemu/qemu.ts";
import { hostResources, qemuOptionsFromConfig } from "./qemu/options.ts";

/** Options of {@link selectHypervisor}. */
export interface HypervisorSelectOptions {
  /** Base of the per-sandbox run directories (default `/run/kata`). */
  runRoot?: string;
  /** Host CPUs and memory (default: this host), the ceilings for QEMU. */
  host?: { cpus: number; memoryMib: number };
  /** Builds the built-in VMM (`dragonball`) driver from its config table. */
  builtin?: (config: HypervisorConfig, runRoot: string) => Hypervisor;
  /** QEMU accelerator override (`tcg` only on test machines without KVM). */
  qemuAccel?: "kvm" | "tcg";
}

/**
 * Returns a fresh, unprepared driver for `name` configured from `config`.
 * @throws ConfigError for an unknown name; UnimplementedError for a known one without a driver
 */
export function selectHypervisor(
  name: string,
  config: HypervisorConfig,
  opts: HypervisorSelectOptions = {},
): Hypervisor {
  const runRoot = opts.runRoot ?? "/run/kata";
  switch (name) {
    case "qemu": {
      const o = qemuOptionsFromConfig(config, opts.host ?? hostResources(), runRoot);
      if (opts.qemuAccel) o.accel = opts.qemuAccel;
      return new Qemu(o);
    }
    case "firecracker":
      return new Firecracker(firecrackerOptionsFromConfig(config, runRoot));
    case "dragonball":
      if (!opts.builtin) {
        throw new UnimplementedError(
          `Hypervisor "dragonball" (the built-in VMM) is not supported by this build: no driver is registered for it`,
        );
      }
      return opts.builtin(config, runRoot);
    case "cloud-hypervisor":
    case "remote":
      throw new UnimplementedError(
        `Hypervisor ${JSON.stringify(name)} is not supported: use qemu, dragonball or firecracker`,
      );
    default:
      throw new ConfigError(
        `Unknown hypervisor ${JSON.stringify(name)}: expected qemu, dragonball or firecracker`,
      );
  }
}
