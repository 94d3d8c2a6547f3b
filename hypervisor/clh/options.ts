/**
 * What the Cloud Hypervisor driver takes, the one mapping from
 * `[hypervisor.clh]`, and the pure builders of the REST bodies (VmConfig and
 * the per-device configs).
 * @module
 */
import { bootOptions, checkBootFiles, finishKernelParams, refuseKey } from "../options_check.ts";
import { rootfsParams } from "../options_check.ts";
import { type ResizableConfigSection, type VmBootOptions, vmSizing } from "../options_check.ts";
import { InvalidArgumentError } from "../../common/errors.ts";
import type { BlockDevice, NetworkDevice, RateLimiter, ShareFsDevice } from "../device.ts";
import { rateLimiterFromMaxRate, rateLimiterJson } from "../device.ts";

/** Options of the Cloud Hypervisor driver. */
export interface ClhOptions extends VmBootOptions {
  maxVcpus: number;
  maxMemoryMib: number;
  /** Guest RAM shared with vhost-user daemons (needed by virtio-fs). */
  sharedMemory: boolean;
  disableBlockDeviceUse: boolean;
  disableSeccomp: boolean;
  networkQueues: number;
  queueSize: number;
  virtioFsQueueSize: number;
  entropySource: string;
  rxRateLimiter?: RateLimiter;
  txRateLimiter?: RateLimiter;
}

/** The `[hypervisor.clh]` keys this driver reads (snake_case, as in the TOML). */
export interface ClhConfigSection extends ResizableConfigSection {
  shared_fs: string;
  disable_block_device_use: boolean;
  disable_seccomp: boolean;
  queue_size: number;
  virtio_fs_queue_size: number;
  entropy_source: string;
  rx_rate_limiter_max_rate: number;
  tx_rate_limiter_max_rate: number;
}

/** Maps the config table to driver options. `host` gives the ceilings when the config sets none. */
export function clhOptionsFromConfig(
  c: ClhConfigSection,
  host: { cpus: number; memoryMib: number },
  runRoot = "/run/kata",
): ClhOptions {
  const bad = refuseKey("clh");
  checkBootFiles(c, "clh", "Cloud Hypervisor", { oneOfImageInitrd: true });
  const { vcpus, maxVcpus, memoryMib, maxMemoryMib } = vmSizing(c, host, bad);
  const sharedFs = c.shared_fs || "virtio-fs";
  if (sharedFs !== "virtio-fs" && sharedFs !== "none") {
    bad(
      "shared_fs",
      `${JSON.stringify(sharedFs)}: Cloud Hypervisor supports only virtio-fs (no 9p)`,
    );
  }
  return {
    ...bootOptions(c, runRoot),
    vcpus,
    maxVcpus,
    memoryMib,
    maxMemoryMib,
    sharedMemory: sharedFs === "virtio-fs",
    disableBlockDeviceUse: !!c.disable_block_device_use,
    disableSeccomp: !!c.disable_seccomp,
    networkQueues: c.network_queues || 1,
    queueSize: c.queue_size || 128,
    virtioFsQueueSize: c.virtio_fs_queue_size || 1024,
    entropySource: c.entropy_source ?? "/dev/urandom",
    rxRateLimiter: rateLimiterFromMaxRate(c.rx_rate_limiter_max_rate ?? 0),
    txRateLimiter: rateLimiterFromMaxRate(c.tx_rate_limiter_max_rate ?? 0),
  };
}

/** The guest kernel command line. */
function clhKernelParams(o: ClhOptions): string {
  const p = ["console=ttyS0", "reboot=k", "panic=1", "no_timer_check", "noreplace-smp"];
  if (o.image) p.push(...rootfsParams(o.rootfsType));
  return finishKernelParams(p, o);
}

/** Cloud Hypervisor's rate limiter config (the same token buckets as Firecracker's). */
const clhRateLimiter = rateLimiterJson;

/** `NetConfig` of a NIC: a tap opened by name; num_queues counts rx and tx queues. */
export function clhNetConfig(o: ClhOptions, n: NetworkDevice & { id: string }) {
  const limiter = clhRateLimiter(n.txRateLimiter ?? o.txRateLimiter);
  return {
    id: n.id,
    tap: n.tapName,
    mac: n.guestMac,
    num_queues: 2 * n.queues,
    queue_size: n.queueSize ?? 256,
    ...(n.mtu ? { mtu: n.mtu } : {}),
    ...(limiter ? { rate_limiter_config: limiter } : {}),
  };
}

/** `DiskConfig` of a block device. */
export function clhDiskConfig(o: ClhOptions, b: BlockDevice & { id: string }) {
  const limiter = clhRateLimiter(b.rateLimiter);
  return {
    id: b.id,
    path: b.path,
    readonly: b.readOnly,
    num_queues: 1,
    queue_size: o.queueSize,
    ...(limiter ? { rate_limiter_config: limiter } : {}),
  };
}

/** `FsConfig` of a virtio-fs share (9p does not exist in Cloud Hypervisor). */
export function clhFsConfig(o: ClhOptions, f: ShareFsDevice & { id: string }) {
  if (f.fsType !== "virtio-fs") {
    throw new InvalidArgumentError(
      `Cannot share "${f.mountTag}" over ${f.fsType}: Cloud Hypervisor supports only virtio-fs`,
    );
  }
  return {
    id: f.id,
    tag: f.mountTag,
    socket: f.socketPath!,
    num_queues: 1,
    queue_size: o.virtioFsQueueSize,
  };
}

/** The devices a VM is created with. */
interface ClhColdDevices {
  disks: (BlockDevice & { id: string })[];
  nets: (NetworkDevice & { id: string })[];
  fs: (ShareFsDevice & { id: string })[];
}

/** The `vm.create` body. */
export function clhVmConfig(o: ClhOptions, hvsock: string, cold: ClhColdDevices) {
  const mib = 1024 * 1024;
  const hotplug = o.maxMemoryMib > o.memoryMib ? (o.maxMemoryMib - o.memoryMib) * mib : 0;
  const disks = [
    ...(o.image
      ? [{ id: "rootfs", path: o.image, readonly: true, num_queues: 1, queue_size: o.queueSize }]
      : []),
    ...cold.disks.map((d) => clhDiskConfig(o, d)),
  ];
  return {
    cpus: { boot_vcpus: o.vcpus, max_vcpus: o.maxVcpus },
    memory: {
      size: o.memoryMib * mib,
      shared: o.sharedMemory,
      ...(hotplug ? { hotplug_method: "Acpi", hotplug_size: hotplug } : {}),
    },
    payload: {
      kernel: o.kernel,
      cmdline: clhKernelParams(o),
      ...(o.initrd ? { initramfs: o.initrd } : {}),
    },
    ...(disks.length ? { disks } : {}),
    ...(cold.nets.length ? { net: cold.nets.map((n) => clhNetConfig(o, n)) } : {}),
    ...(cold.fs.length ? { fs: cold.fs.map((f) => clhFsConfig(o, f)) } : {}),
    vsock: { id: "vsock", cid: 3, socket: hvsock },
    ...(o.entropySource ? { rng: { src: o.entropySource } } : {}),
    // The serial port goes to the VMM's stdout, which the driver pipes into the log.
    serial: { mode: "Tty" },
    console: { mode: "Off" },
  };
}
