/**
 * Builds the driver named by `[runtime] hypervisor_name` from its
 * `[hypervisor.<name>]` table. The one place that maps config to drivers.
 * @module
 */
import { UnimplementedError } from "../common/errors.ts";
import type { HypervisorConfig } from "../config/schema.ts";
import { Firecracker } from "./firecracker/firecracker.ts";
import { firecrackerOptionsFromConfig } from "./firecracker/options.ts";
import type { Hypervisor } from "./hypervisor.ts";
import { hostResources as qemuHost, qemuOptionsFromConfig } from "./qemu/options.ts";
import { Clh } from "./clh/clh.ts";
import { clhOptionsFromConfig } from "./clh/options.ts";
import { Qemu } from "./qemu/qemu.ts";
// Importing the built-in VMM is free: its FFI libraries open on first use.
import { dragonballFromConfig } from "./dragonball/driver.ts";

/** Options of {@link createHypervisor}. */
interface CreateHypervisorOptions {
  /** Base of the per-sandbox directories (default `/run/kata`). */
  runRoot?: string;
  /**
   * Builds the built-in VMM's driver when `name` is `dragonball` (default:
   * `dragonballFromConfig` of hypervisor/dragonball/driver.ts).
   */
  dragonball?: (config: HypervisorConfig, runRoot: string) => Hypervisor;
}

/** Drivers this runtime refuses, with the reason given to the user. */
const UNSUPPORTED: Record<string, string> = {
  remote: "the remote hypervisor (peer pods) driver is not implemented",
  openvmm: "the OpenVMM driver is not implemented",
};

/** Creates the driver for hypervisor `name` configured by table `config`. */
export function createHypervisor(
  name: string,
  config: HypervisorConfig,
  opts: CreateHypervisorOptions = {},
): Hypervisor {
  const runRoot = opts.runRoot ?? "/run/kata";
  switch (name) {
    case "qemu":
      return new Qemu(qemuOptionsFromConfig(config, undefined, runRoot));
    case "firecracker":
      return new Firecracker(firecrackerOptionsFromConfig(config, runRoot));
    case "clh":
      return new Clh(clhOptionsFromConfig(config, qemuHost(), runRoot));
    case "dragonball":
      return (opts.dragonball ?? dragonballFromConfig)(config, runRoot);
  }
  const why = UNSUPPORTED[name];
  throw new UnimplementedError(
    `Hypervisor ${JSON.stringify(name)} is not supported: ${why ?? "unknown hypervisor name"}`,
  );
}
