/**
 * What the QEMU driver takes and the one mapping from `[hypervisor.qemu]` to
 * it (validation included). The command line built from these options is
 * `command_line.ts`'s.
 * @module
 */
import { UNSUPPORTED_QEMU } from "../unsupported_keys.ts";
import { bootOptions, checkBootFiles, refuseKey } from "../options_check.ts";
import { type ResizableConfigSection, type VmBootOptions, vmSizing } from "../options_check.ts";

/** Options of the QEMU driver. */
export interface QemuOptions extends VmBootOptions {
  firmware: string;
  /** `q35` (x86_64). */
  machineType: string;
  /** Extra `-machine` options (`machine_accelerators`). */
  machineAccelerators: string;
  /** `kvm` in production; `tcg` only for tests on machines without /dev/kvm. */
  accel: "kvm" | "tcg";
  /** Extra `-cpu` features, e.g. `pmu=off`. */
  cpuFeatures: string;
  /** vCPU ceiling for hotplug. */
  maxVcpus: number;
  /** Memory ceiling for hotplug, MiB. */
  maxMemoryMib: number;
  memorySlots: number;
  /** How the image reaches the guest: `virtio-pmem` or `virtio-blk-pci`. */
  vmRootfsDriver: "virtio-pmem" | "virtio-blk-pci";
  /** Driver for block devices: `virtio-blk-pci` or `virtio-scsi`. */
  blockDeviceDriver: "virtio-blk-pci" | "virtio-scsi";
  /** Host I/O engine of drives: `threads`, `native` or `io_uring`. */
  blockAio: "threads" | "native" | "io_uring";
  /** Drive cache mode, when `block_device_cache_set`: O_DIRECT and/or no flushes. */
  blockCache?: { direct: boolean; noFlush: boolean };
  disableBlockDeviceUse: boolean;
  disableVhostNet: boolean;
  networkQueues: number;
  entropySource: string;
  /** PCIe root ports created for hotplug. */
  hotplugPorts: number;
}

/** The `[hypervisor.qemu]` keys this driver reads (snake_case, as in the TOML). */
export interface QemuConfigSection extends ResizableConfigSection {
  firmware: string;
  machine_type: string;
  machine_accelerators: string;
  cpu_features: string;
  memory_slots: number;
  vm_rootfs_driver: string;
  block_device_driver: string;
  disable_block_device_use: boolean;
  block_device_aio?: string;
  block_device_cache_set?: boolean;
  block_device_cache_direct?: boolean;
  block_device_cache_noflush?: boolean;
  disable_vhost_net: boolean;
  entropy_source: string;
  pcie_root_port: number;
}

/** Default number of hotplug root ports when the config asks for none. */
const DEFAULT_HOTPLUG_PORTS = 4;

/** Maps the config section to driver options. `host` gives the host's CPUs and memory. */
export function qemuOptionsFromConfig(
  c: QemuConfigSection,
  host: { cpus: number; memoryMib: number } = hostResources(),
  runRoot = "/run/kata",
): QemuOptions {
  const bad = refuseKey("qemu");
  checkBootFiles(c, "qemu", "QEMU", { oneOfImageInitrd: true, extraUnsupported: UNSUPPORTED_QEMU });
  const { vcpus, maxVcpus, memoryMib, maxMemoryMib } = vmSizing(c, host, bad);
  const rootfsDriver = c.vm_rootfs_driver || "virtio-pmem";
  const vmRootfsDriver = rootfsDriver === "virtio-blk" ? "virtio-blk-pci" : rootfsDriver;
  if (vmRootfsDriver !== "virtio-pmem" && vmRootfsDriver !== "virtio-blk-pci") {
    bad("vm_rootfs_driver", `${JSON.stringify(rootfsDriver)} is not virtio-pmem or virtio-blk-pci`);
  }
  const blk = c.block_device_driver || "virtio-scsi";
  const blockDeviceDriver = blk === "virtio-blk" ? "virtio-blk-pci" : blk;
  if (blockDeviceDriver !== "virtio-blk-pci" && blockDeviceDriver !== "virtio-scsi") {
    bad("block_device_driver", `${JSON.stringify(blk)} is not virtio-blk-pci or virtio-scsi`);
  }
  const blockAio = c.block_device_aio || "threads";
  if (blockAio !== "threads" && blockAio !== "native" && blockAio !== "io_uring") {
    bad("block_device_aio", `${JSON.stringify(blockAio)} is not threads, native or io_uring`);
  }
  const blockCache = c.block_device_cache_set
    ? { direct: !!c.block_device_cache_direct, noFlush: !!c.block_device_cache_noflush }
    : undefined;
  if (blockAio === "native" && !blockCache?.direct) {
    bad("block_device_aio", `native needs block_device_cache_set and block_device_cache_direct`);
  }
  const machineType = c.machine_type || "q35";
  if (machineType !== "q35") bad("machine_type", `${JSON.stringify(machineType)} is not q35`);
  return {
    ...bootOptions(c, runRoot),
    firmware: c.firmware ?? "",
    machineType,
    machineAccelerators: c.machine_accelerators ?? "",
    accel: "kvm",
    cpuFeatures: c.cpu_features ?? "",
    vcpus,
    maxVcpus,
    memoryMib,
    maxMemoryMib,
    memorySlots: c.memory_slots ?? 10,
    vmRootfsDriver: vmRootfsDriver as QemuOptions["vmRootfsDriver"],
    blockDeviceDriver: blockDeviceDriver as QemuOptions["blockDeviceDriver"],
    blockAio: blockAio as QemuOptions["blockAio"],
    blockCache,
    disableBlockDeviceUse: !!c.disable_block_device_use,
    disableVhostNet: !!c.disable_vhost_net,
    networkQueues: c.network_queues || 1,
    entropySource: c.entropy_source ?? "/dev/urandom",
    hotplugPorts: c.pcie_root_port || DEFAULT_HOTPLUG_PORTS,
  };
}

/** Host CPU count and memory, the ceilings when the config sets none. */
export function hostResources(): { cpus: number; memoryMib: number } {
  const cpus = navigator.hardwareConcurrency || 1;
  const meminfo = Deno.readTextFileSync("/proc/meminfo");
  const kib = Number(/^MemTotal:\s+(\d+) kB/m.exec(meminfo)?.[1] ?? 0);
  return { cpus, memoryMib: Math.floor(kib / 1024) };
}
