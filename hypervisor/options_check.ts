/**
 * The config-to-options checks every driver's `options.ts` makes: refuse
 * keys the driver cannot honour, insist on a VMM path, a kernel and an image
 * or initrd, and size the VM (vCPUs and memory within their ceilings). One
 * message shape for all: `Invalid [hypervisor.<section>] <key>: <reason>`.
 * @module
 */
import { ConfigError, InvalidArgumentError } from "../common/errors.ts";
import {
  type ConfigTable,
  refuseUnsupportedKeys,
  UNSUPPORTED_EVERYWHERE,
} from "./unsupported_keys.ts";

/** What every external VMM driver's options hold (the rest is the driver's own). */
export interface VmBootOptions {
  /** The VMM executable. */
  path: string;
  /** Guest kernel. */
  kernel: string;
  /** Guest rootfs image; empty when booting an initrd. */
  image: string;
  initrd: string;
  /** `ext4`, `xfs` or `erofs`. */
  rootfsType: string;
  /** Extra kernel parameters from the config. */
  kernelParams: string;
  /** Boot vCPUs (a fraction in the config is rounded up). */
  vcpus: number;
  memoryMib: number;
  debug: boolean;
  /** Base of the per-sandbox directories (`/run/kata`). */
  runRoot: string;
}

/** Throws the ConfigError for key `key` of the section. */
type RefuseKey = (key: string, reason: string) => never;

/** The keys every driver's section has in common. */
interface BootFilesSection {
  path?: string;
  kernel?: string;
  image?: string;
  initrd?: string;
}

/** The keys every section maps the same way (upstream's names). */
interface CommonSection extends BootFilesSection {
  rootfs_type?: string;
  kernel_params?: string;
  enable_debug?: boolean;
}

/** The keys every driver's config section has (upstream's names, as in the TOML). */
export interface DriverConfigSection {
  path: string;
  kernel: string;
  image: string;
  initrd: string;
  rootfs_type: string;
  kernel_params: string;
  default_vcpus: number;
  default_memory: number;
  enable_debug: boolean;
  network_queues: number;
}

/** A section of a driver that can grow the VM: the ceilings of vCPUs and memory too. */
export interface ResizableConfigSection extends DriverConfigSection {
  default_maxvcpus: number;
  default_maxmemory: number;
}

/** The sizing keys of a section (upstream's names). */
interface SizingSection {
  default_vcpus?: number;
  default_maxvcpus?: number;
  default_memory?: number;
  default_maxmemory?: number;
}

/** VM size after the checks. */
interface VmSizing {
  vcpus: number;
  maxVcpus: number;
  memoryMib: number;
  maxMemoryMib: number;
}

/** The refusal function of section `[hypervisor.<section>]`. */
export function refuseKey(section: string): RefuseKey {
  return (key, reason) => {
    throw new ConfigError(`Invalid [hypervisor.${section}] ${key}: ${reason}`);
  };
}

/**
 * The common checks of a section: unsupported keys (everywhere's plus
 * `extraUnsupported`), the VMM path (unless `needsPath` is false: the built-in
 * VMM has none), the kernel, and an image or initrd (not both where
 * `oneOfImageInitrd`).
 */
export function checkBootFiles(
  c: BootFilesSection,
  section: string,
  driver: string,
  opts: { needsPath?: boolean; oneOfImageInitrd?: boolean; extraUnsupported?: readonly string[] } =
    {},
): void {
  const bad = refuseKey(section);
  refuseUnsupportedKeys(c as unknown as ConfigTable, section, driver, [
    ...UNSUPPORTED_EVERYWHERE,
    ...(opts.extraUnsupported ?? []),
  ]);
  if ((opts.needsPath ?? true) && !c.path) bad("path", "empty");
  if (!c.kernel) bad("kernel", "empty");
  if (!c.image && !c.initrd) bad("image", "neither image nor initrd is set");
  if (opts.oneOfImageInitrd && c.image && c.initrd) bad("initrd", "image and initrd are both set");
}

/**
 * vCPUs and memory from the section, the maxima capped by the host's
 * (`host`) and the defaults within them (one vCPU, 2048 MiB by default).
 */
export function vmSizing(
  c: SizingSection,
  host: { cpus: number; memoryMib: number },
  bad: RefuseKey,
): VmSizing {
  const vcpus = Math.ceil(c.default_vcpus || 1);
  const maxVcpus = (c.default_maxvcpus ?? 0) > 0
    ? Math.min(c.default_maxvcpus!, host.cpus)
    : host.cpus;
  if (vcpus > maxVcpus) bad("default_vcpus", `${vcpus} exceeds the maximum ${maxVcpus}`);
  const memoryMib = c.default_memory || 2048;
  const maxMemoryMib = (c.default_maxmemory ?? 0) > 0
    ? Math.min(c.default_maxmemory!, host.memoryMib)
    : host.memoryMib;
  if (memoryMib > maxMemoryMib) {
    bad("default_memory", `${memoryMib} MiB exceeds the maximum ${maxMemoryMib} MiB`);
  }
  return { vcpus, maxVcpus, memoryMib, maxMemoryMib };
}

/** The {@link VmBootOptions} every section maps alike (after {@link checkBootFiles}). */
export function bootOptions(
  c: CommonSection,
  runRoot: string,
): Omit<VmBootOptions, "vcpus" | "memoryMib"> {
  return {
    path: c.path ?? "",
    kernel: c.kernel ?? "",
    image: c.image ?? "",
    initrd: c.initrd ?? "",
    rootfsType: c.rootfs_type || "ext4",
    kernelParams: c.kernel_params ?? "",
    debug: !!c.enable_debug,
    runRoot,
  };
}

/** The systemd parameters every Kata guest boots with. */
export const KATA_SYSTEMD_PARAMS: readonly string[] = [
  "systemd.unit=kata-containers.target",
  "systemd.mask=systemd-networkd.service",
  "systemd.mask=systemd-networkd.socket",
];

/**
 * The `root=` parameters for a rootfs image of type `type` on guest device
 * `dev`; `flags` are the ext4/xfs mount flags (erofs takes none).
 */
export function rootfsParams(
  type: string,
  dev = "/dev/vda1",
  flags = "data=ordered,errors=remount-ro",
): string[] {
  switch (type) {
    case "ext4":
    case "xfs":
      return [`root=${dev}`, `rootflags=${flags}`, "ro", `rootfstype=${type}`];
    case "erofs":
      return [`root=${dev}`, "ro", "rootfstype=erofs"];
    default:
      throw new InvalidArgumentError(
        `Invalid rootfs_type ${JSON.stringify(type)}: expected ext4, xfs or erofs`,
      );
  }
}

/** The config's own `kernel_params`, split into parameters (last, so they win). */
export function userKernelParams(kernelParams: string): string[] {
  return kernelParams.trim() ? kernelParams.trim().split(/\s+/) : [];
}

/** Ends a kernel command line: Kata's systemd units, agent debug logging, the config's params. */
export function finishKernelParams(
  p: string[],
  o: { debug: boolean; kernelParams: string },
): string {
  p.push(...KATA_SYSTEMD_PARAMS);
  if (o.debug) p.push("agent.log=debug");
  p.push(...userKernelParams(o.kernelParams));
  return p.join(" ");
}
