/**
 * The pure QEMU command-line builder: machine, CPU, memory, kernel, and every
 * cold-plugged device with the PCI slot or SCSI LUN it gets. Device
 * properties shared with hotplug come from `device_props.ts`.
 * @module
 */
import { finishKernelParams, rootfsParams } from "../options_check.ts";
import { InvalidArgumentError } from "../../common/errors.ts";
import type { BlockDevice, Device, NetworkDevice, ShareFsDevice } from "../device.ts";
import { refuseVfio } from "../device.ts";
import {
  deviceArg,
  qemuEscape,
  qemuId,
  scsiHdProps,
  virtioBlkProps,
  virtioNetProps,
} from "./device_props.ts";
import type { QemuOptions } from "./options.ts";

/** Cold-plugged PCI devices start at this slot on pcie.0 (slot 0 is the host bridge). */
const FIRST_COLD_SLOT = 0x02;
/** Hotplug root ports sit at these slots on pcie.0 (one port per slot). */
export const FIRST_PORT_SLOT = 0x10;
/** The SCSI controller's slot, when block devices use virtio-scsi. */
const SCSI_SLOT = 0x0f;

/** Kernel parameters for the VM rootfs, by how it is attached. */
function qemuRootfsParams(o: QemuOptions): string[] {
  if (!o.image) return [];
  return o.vmRootfsDriver === "virtio-pmem"
    ? rootfsParams(o.rootfsType, "/dev/pmem0p1", "dax,data=ordered,errors=remount-ro")
    : rootfsParams(o.rootfsType);
}

/** The guest kernel command line. */
function qemuKernelParams(o: QemuOptions): string {
  const p = [
    "tsc=reliable",
    "no_timer_check",
    "rcupdate.rcu_expedited=1",
    "i8042.direct=1",
    "i8042.dumbkbd=1",
    "i8042.nopnp=1",
    "i8042.noaux=1",
    "noreplace-smp",
    "reboot=k",
    "cryptomgr.notests",
    "net.ifnames=0",
    "pci=lastbus=0",
    // The serial port's lines land in the shim log (see QemuVm's console pump).
    "console=ttyS0",
    ...qemuRootfsParams(o),
    "panic=1",
    `nr_cpus=${o.maxVcpus}`,
    "scsi_mod.scan=none",
  ];
  return finishKernelParams(p, o);
}

/** Where a cold-plugged device sits; filled by {@link qemuCommandLine}. */
interface Placement {
  /** Guest-visible address: a PCI path (`02`, `10/00`) or a SCSI address (`0:3`). */
  guestPath: string;
}

/** Inputs of {@link qemuCommandLine} beyond the options. */
interface QemuVmLayout {
  id: string;
  qmpSocket: string;
  /** vhost-vsock guest CID. */
  vsockCid: number;
  /** Size of the rootfs image in bytes (virtio-pmem needs it). */
  imageSize: number;
  /** Devices added before start, each with an id. */
  devices: (Device & { id: string })[];
}

/**
 * Builds the QEMU argv (without the binary) and where each cold device went.
 * Pure: everything it needs comes in through `o` and `vm`.
 */
export function qemuCommandLine(
  o: QemuOptions,
  vm: QemuVmLayout,
): { args: string[]; placements: Map<string, Placement> } {
  const args: string[] = [];
  const placements = new Map<string, Placement>();
  const add = (...a: string[]) => args.push(...a);
  const machine = [o.machineType, `accel=${o.accel}`];
  if (o.machineAccelerators) machine.push(o.machineAccelerators);
  const shareFs = vm.devices.filter((d): d is ShareFsDevice & { id: string } =>
    d.kind === "share_fs"
  );
  const needsSharedMemory = shareFs.some((d) => d.fsType === "virtio-fs");
  const pmem = !!o.image && o.vmRootfsDriver === "virtio-pmem";

  add("-name", `sandbox-${vm.id}`);
  add("-machine", machine.join(","));
  add(
    "-cpu",
    [o.accel === "kvm" ? "host" : "max", ...(o.cpuFeatures ? [o.cpuFeatures] : [])].join(","),
  );
  add("-smp", `${o.vcpus},cores=1,threads=1,sockets=${o.maxVcpus},maxcpus=${o.maxVcpus}`);
  const slots = Math.max(o.memorySlots, pmem ? 1 : 0);
  const pmemMib = pmem ? Math.ceil(vm.imageSize / (1 << 20)) : 0;
  add(
    "-m",
    slots > 0
      ? `${o.memoryMib}M,slots=${slots},maxmem=${Math.max(o.maxMemoryMib, o.memoryMib + pmemMib)}M`
      : `${o.memoryMib}M`,
  );
  if (needsSharedMemory) {
    // vhost-user devices need guest RAM the daemon can map.
    add("-object", `memory-backend-file,id=dimm1,size=${o.memoryMib}M,mem-path=/dev/shm,share=on`);
    add("-numa", "node,memdev=dimm1");
  }
  if (o.firmware) add("-bios", o.firmware);
  add("-kernel", o.kernel);
  if (o.initrd) add("-initrd", o.initrd);
  add("-append", qemuKernelParams(o));
  add("-no-user-config", "-nodefaults", "-nographic", "-no-reboot");
  add("-rtc", "base=utc,driftfix=slew,clock=host");
  if (o.accel === "kvm") add("-global", "kvm-pit.lost_tick_policy=discard");
  add("-qmp", `unix:${qemuEscape(vm.qmpSocket)},server=on,wait=off`);
  // Serial console on stdout: the driver pipes it into the shim log.
  add("-chardev", "stdio,id=serial0,signal=off", "-serial", "chardev:serial0");

  let slot = FIRST_COLD_SLOT;
  const nextSlot = () => {
    if (slot === SCSI_SLOT) slot++;
    if (slot >= FIRST_PORT_SLOT) {
      throw new InvalidArgumentError(`Too many cold-plugged devices for sandbox ${vm.id}`);
    }
    return slot++;
  };
  const hex = (n: number) => n.toString(16).padStart(2, "0");

  if (o.image) {
    if (pmem) {
      add(
        "-object",
        `memory-backend-file,id=pmem-rootfs,mem-path=${
          qemuEscape(o.image)
        },size=${vm.imageSize},share=on,readonly=on`,
      );
      add("-device", `virtio-pmem-pci,id=rootfs,memdev=pmem-rootfs,addr=0x${hex(nextSlot())}`);
    } else {
      add(
        "-drive",
        `if=none,id=drive-rootfs,file=${qemuEscape(o.image)},format=raw,readonly=on${driveIo(o)}`,
      );
      add("-device", `virtio-blk-pci,drive=drive-rootfs,id=rootfs,addr=0x${hex(nextSlot())}`);
    }
  }
  if (o.entropySource) {
    add("-object", `rng-random,id=rng0,filename=${qemuEscape(o.entropySource)}`);
    add("-device", `virtio-rng-pci,rng=rng0,id=rng,addr=0x${hex(nextSlot())}`);
  }
  add("-device", `vhost-vsock-pci,id=vsock,guest-cid=${vm.vsockCid},addr=0x${hex(nextSlot())}`);

  const blocks = vm.devices.filter((d): d is BlockDevice & { id: string } => d.kind === "block");
  if (o.blockDeviceDriver === "virtio-scsi") {
    add("-device", `virtio-scsi-pci,id=scsi0,addr=0x${hex(SCSI_SLOT)}`);
  }
  let lun = 0;
  for (const b of blocks) {
    const node = qemuId("drive", b.id);
    add(
      "-drive",
      `if=none,id=${node},file=${qemuEscape(b.path)},format=raw,readonly=${
        b.readOnly ? "on" : "off"
      }${driveIo(o)}`,
    );
    if (o.blockDeviceDriver === "virtio-scsi") {
      add("-device", deviceArg(scsiHdProps(b.id, node, lun)));
      placements.set(b.id, { guestPath: `0:${lun++}` });
    } else {
      const s = nextSlot();
      add("-device", deviceArg(virtioBlkProps(b.id, node), `addr=0x${hex(s)}`));
      placements.set(b.id, { guestPath: hex(s) });
    }
  }
  for (
    const n of vm.devices.filter((d): d is NetworkDevice & { id: string } => d.kind === "network")
  ) {
    const s = nextSlot();
    add("-netdev", netdevArg(o, n));
    add("-device", deviceArg(virtioNetProps(n), `addr=0x${hex(s)}`));
    placements.set(n.id, { guestPath: hex(s) });
  }
  for (const f of shareFs) {
    const s = nextSlot();
    if (f.fsType === "virtio-9p") {
      const fsdev = qemuId("fsdev", f.id);
      add(
        "-fsdev",
        `local,id=${fsdev},path=${qemuEscape(f.hostPath)},security_model=none,multidevs=remap`,
      );
      add(
        "-device",
        `virtio-9p-pci,id=${qemuId("fs", f.id)},fsdev=${fsdev},mount_tag=${f.mountTag},addr=0x${
          hex(s)
        }`,
      );
    } else {
      const chr = qemuId("char", f.id);
      add("-chardev", `socket,id=${chr},path=${qemuEscape(f.socketPath ?? "")}`);
      add(
        "-device",
        `vhost-user-fs-pci,id=${
          qemuId("fs", f.id)
        },chardev=${chr},tag=${f.mountTag},queue-size=1024` +
          (f.cacheSizeMib ? `,cache-size=${f.cacheSizeMib}M` : "") + `,addr=0x${hex(s)}`,
      );
    }
    placements.set(f.id, { guestPath: hex(s) });
  }
  for (const d of vm.devices) refuseVfio(d);
  for (let i = 0; i < o.hotplugPorts; i++) {
    add(
      "-device",
      `pcie-root-port,id=rp${i},bus=pcie.0,chassis=${i + 1},slot=${i + 1},addr=0x${
        hex(FIRST_PORT_SLOT + i)
      }`,
    );
  }
  return { args, placements };
}

/** The `,aio=…[,cache.direct=…,cache.no-flush=…]` tail of a `-drive`. */
function driveIo(o: QemuOptions): string {
  let s = `,aio=${o.blockAio}`;
  if (o.blockCache) {
    s += `,cache.direct=${o.blockCache.direct ? "on" : "off"}`;
    s += `,cache.no-flush=${o.blockCache.noFlush ? "on" : "off"}`;
  }
  return s;
}

/** `-netdev` for a tap opened by name (QEMU runs in the pod netns). */
export function netdevArg(o: QemuOptions, n: NetworkDevice & { id: string }): string {
  const parts = [
    "tap",
    `id=${qemuId("net", n.id)}`,
    `ifname=${n.tapName}`,
    "script=no",
    "downscript=no",
  ];
  const vhost = n.vhost ?? !o.disableVhostNet;
  parts.push(`vhost=${vhost ? "on" : "off"}`);
  if (n.queues > 1) parts.push(`queues=${n.queues}`);
  return parts.join(",");
}
