/**
 * What the Firecracker driver takes, and the one mapping from the
 * `[hypervisor.firecracker]` config section to it. Also builds the kernel
 * command line and the launch argv (plain or jailed), which are pure.
 * @module
 */
import { bootOptions, checkBootFiles, KATA_SYSTEMD_PARAMS, refuseKey } from "../options_check.ts";
import { rootfsParams } from "../options_check.ts";
import {
  type DriverConfigSection,
  userKernelParams,
  type VmBootOptions,
} from "../options_check.ts";
import { InvalidArgumentError } from "../../common/errors.ts";
import type { RateLimiter } from "../device.ts";
import { rateLimiterFromMaxRate } from "../device.ts";

/** Firecracker's vCPU limit (runtime-rs `MAX_FIRECRACKER_VCPUS`). */
const MAX_FIRECRACKER_VCPUS = 32;
/** Firecracker's smallest useful guest (runtime-rs validation). */
const MIN_FIRECRACKER_MEMORY_MIB = 128;
/** Placeholder drives `drive1`..`drive5` pre-created because Firecracker has no hotplug. */
export const PLACEHOLDER_DRIVES = 5;

/** Options of the Firecracker driver. */
export interface FirecrackerOptions extends VmBootOptions {
  /** The `jailer` executable; empty = not jailed. */
  jailerPath: string;
  disableSeccomp: boolean;
  /** Must be 1: Firecracker opens taps single-queue. */
  networkQueues: number;
  rxRateLimiter?: RateLimiter;
  txRateLimiter?: RateLimiter;
  diskRateLimiter?: RateLimiter;
  /** Connect attempts while the API socket comes up (10 ms apart). */
  apiConnectAttempts: number;
}

/** The `[hypervisor.firecracker]` keys this driver reads (snake_case, as in the TOML). */
export interface FirecrackerConfigSection extends DriverConfigSection {
  jailer_path: string;
  disable_seccomp: boolean;
  rx_rate_limiter_max_rate: number;
  tx_rate_limiter_max_rate: number;
  disk_rate_limiter_bw_max_rate: number | bigint;
  disk_rate_limiter_bw_one_time_burst: number | bigint;
  disk_rate_limiter_ops_max_rate: number | bigint;
  disk_rate_limiter_ops_one_time_burst: number | bigint;
}

/** Maps the config section to driver options, validating what Firecracker would refuse. */
export function firecrackerOptionsFromConfig(
  c: FirecrackerConfigSection,
  runRoot = "/run/kata",
): FirecrackerOptions {
  const bad = refuseKey("firecracker");
  checkBootFiles(c, "firecracker", "Firecracker");
  const vcpus = Math.ceil(c.default_vcpus || 1);
  if (vcpus < 1 || vcpus > MAX_FIRECRACKER_VCPUS) {
    bad("default_vcpus", `${c.default_vcpus} is outside 1..${MAX_FIRECRACKER_VCPUS}`);
  }
  const memoryMib = c.default_memory || 2048;
  if (memoryMib < MIN_FIRECRACKER_MEMORY_MIB) {
    bad("default_memory", `${memoryMib} MiB is below ${MIN_FIRECRACKER_MEMORY_MIB} MiB`);
  }
  const num = (key: keyof FirecrackerConfigSection) => {
    const v = Number(c[key] ?? 0);
    if (!Number.isSafeInteger(v) || v < 0) bad(key, `${c[key]} is not a usable integer`);
    return v;
  };
  const bw = num("disk_rate_limiter_bw_max_rate");
  const ops = num("disk_rate_limiter_ops_max_rate");
  const disk: RateLimiter = {};
  if (bw) {
    const burst = num("disk_rate_limiter_bw_one_time_burst");
    disk.bandwidth = { size: bw, refillTimeMs: 1000, ...(burst ? { oneTimeBurst: burst } : {}) };
  }
  if (ops) {
    const burst = num("disk_rate_limiter_ops_one_time_burst");
    disk.ops = { size: ops, refillTimeMs: 1000, ...(burst ? { oneTimeBurst: burst } : {}) };
  }
  return {
    ...bootOptions(c, runRoot),
    jailerPath: c.jailer_path ?? "",
    vcpus,
    memoryMib,
    disableSeccomp: !!c.disable_seccomp,
    networkQueues: c.network_queues || 1,
    rxRateLimiter: rateLimiterFromMaxRate(num("rx_rate_limiter_max_rate")),
    txRateLimiter: rateLimiterFromMaxRate(num("tx_rate_limiter_max_rate")),
    diskRateLimiter: bw || ops ? disk : undefined,
    apiConnectAttempts: 500,
  };
}

/** The guest kernel command line Firecracker boots with. */
export function firecrackerBootArgs(o: FirecrackerOptions): string {
  const args = ["reboot=k", "panic=1", ...KATA_SYSTEMD_PARAMS];
  if (o.debug) args.push("agent.log_vport=1025");
  args.push("pci=off", "iommu=off");
  if (o.image) args.push(...rootfsParams(o.rootfsType));
  args.push(...userKernelParams(o.kernelParams));
  return args.join(" ");
}

/** Host paths of one Firecracker sandbox. */
export interface FirecrackerPaths {
  jailed: boolean;
  /** `/run/kata/<sid>`, or `/run/kata/firecracker/<sid>` when jailed (the exec file's name). */
  vmPath: string;
  /** The jail's root (`<vmPath>/root`); also holds the placeholder drives when not jailed. */
  rootDir: string;
  runDir: string;
  apiSocket: string;
  /** Host path of the hybrid vsock socket. */
  hvsock: string;
  /** The vsock `uds_path` as Firecracker sees it (relative inside the jail). */
  hvsockForVmm: string;
}

/** Lays out the directories of sandbox `id` (runtime-rs's layout). */
export function firecrackerPaths(o: FirecrackerOptions, id: string): FirecrackerPaths {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(id) || id.length > 64) {
    throw new InvalidArgumentError(`Invalid sandbox id ${JSON.stringify(id)} for Firecracker`);
  }
  if (o.jailerPath) {
    // The jailer builds its chroot at <base>/<exec file name>/<id>/root.
    const vmPath = `${o.runRoot}/${o.path.split("/").pop()}/${id}`;
    const rootDir = `${vmPath}/root`;
    return {
      jailed: true,
      vmPath,
      rootDir,
      runDir: `${rootDir}/run`,
      apiSocket: `${rootDir}/run/fc.sock`,
      hvsock: `${rootDir}/kata.hvsock`,
      hvsockForVmm: "kata.hvsock",
    };
  }
  const vmPath = `${o.runRoot}/${id}`;
  return {
    jailed: false,
    vmPath,
    rootDir: `${vmPath}/root`,
    runDir: `${vmPath}/run`,
    apiSocket: `${vmPath}/run/fc.sock`,
    hvsock: `${vmPath}/kata.hvsock`,
    hvsockForVmm: `${vmPath}/kata.hvsock`,
  };
}

/**
 * The command that launches Firecracker: `firecracker --api-sock <sock>`,
 * entered into the pod netns with `nsenter` (Deno cannot setns between fork
 * and exec), or the jailer, which takes the netns itself (`--netns`).
 */
export function firecrackerLaunch(
  o: FirecrackerOptions,
  id: string,
  paths: FirecrackerPaths,
  netnsPath?: string,
): { cmd: string; args: string[] } {
  const fcArgs = paths.jailed ? ["--api-sock", "/run//fc.sock"] : ["--api-sock", paths.apiSocket];
  if (o.disableSeccomp) fcArgs.push("--no-seccomp");
  if (paths.jailed) {
    const args = [
      "--id",
      id,
      "--gid",
      "0",
      "--uid",
      "0",
      "--exec-file",
      o.path,
      "--chroot-base-dir",
      o.runRoot,
    ];
    if (netnsPath) args.push("--netns", netnsPath);
    return { cmd: o.jailerPath, args: [...args, "--", ...fcArgs] };
  }
  if (netnsPath) {
    return { cmd: "nsenter", args: [`--net=${netnsPath}`, "--", o.path, ...fcArgs] };
  }
  return { cmd: o.path, args: fcArgs };
}
