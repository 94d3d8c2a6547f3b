/**
 * QEMU device hotplug and unplug through QMP: NICs and virtio-blk drives go
 * onto free PCIe root ports, SCSI drives onto free LUNs of `scsi0`. This file
 * owns the port, LUN and blockdev-node bookkeeping so the driver only decides
 * whether a device is cold (command line) or hot (this file).
 * @module
 */
import { UnavailableError, UnimplementedError } from "../../common/errors.ts";
import { isBlockDevice as hostIsBlockDevice } from "../../common/fs.ts";
import { getLogger } from "../../common/log.ts";
import type { BlockDevice, NetworkDevice } from "../device.ts";
import type { PlacedDevice } from "../external_vmm.ts";
import { FIRST_PORT_SLOT, netdevArg } from "./command_line.ts";
import { qemuId, scsiHdProps, virtioBlkProps, virtioNetProps } from "./device_props.ts";
import type { QemuOptions } from "./options.ts";
import type { QmpClient } from "./qmp.ts";

const log = getLogger("hypervisor.qemu");

/** A device the QEMU driver knows, with its id and (once placed) its guest path. */
type Tracked = PlacedDevice;

/** Hotplug state of one QEMU VM: which root ports, LUNs and blockdev nodes are in use. */
export class QemuHotplug {
  readonly #o: QemuOptions;
  /** Root-port index → hotplugged device id. */
  readonly #ports = new Map<number, string>();
  /** SCSI LUNs taken by hotplugged drives. */
  readonly #luns = new Set<number>();
  /** Ids of hotplugged drives that have a blockdev node of their own. */
  readonly #hotNodes = new Set<string>();

  readonly #isBlockDevice: (path: string) => boolean;

  /** `isBlockDevice` tells a host block device from a file (tests replace it). */
  constructor(options: QemuOptions, isBlockDevice = hostIsBlockDevice) {
    this.#o = options;
    this.#isBlockDevice = isBlockDevice;
  }

  /**
   * Hotplugs `d` into the running VM; `devices` are the VM's other devices
   * (cold SCSI drives hold LUNs too). Returns `d` with its guest path.
   */
  async plug(qmp: QmpClient, d: Tracked, devices: Iterable<Tracked>): Promise<Tracked> {
    const pciPath = (port: number) =>
      `${(FIRST_PORT_SLOT + port).toString(16).padStart(2, "0")}/00`;
    switch (d.kind) {
      case "network": {
        const n = d as NetworkDevice & { id: string };
        const port = this.#freePort(n.id);
        try {
          await qmp.netdevAddTap({
            id: qemuId("net", n.id),
            ifname: n.tapName,
            vhost: n.vhost ?? !this.#o.disableVhostNet,
            queues: n.queues,
          });
          try {
            await qmp.deviceAdd({ ...virtioNetProps(n), bus: `rp${port}` });
          } catch (e) {
            await qmp.netdevDel(qemuId("net", n.id)).catch(() => {});
            throw e;
          }
        } catch (e) {
          this.#ports.delete(port);
          throw e;
        }
        log.debug("hotplugged NIC {id}: {netdev}", { id: n.id, netdev: netdevArg(this.#o, n) });
        return { ...n, guestPath: pciPath(port) };
      }
      case "block": {
        const b = d as BlockDevice & { id: string };
        const node = qemuId("node", b.id);
        await qmp.blockdevAddFile({
          nodeName: node,
          filename: b.path,
          readOnly: b.readOnly,
          hostDevice: this.#isBlockDevice(b.path),
          aio: this.#o.blockAio,
          cache: this.#o.blockCache,
        });
        this.#hotNodes.add(b.id);
        try {
          if (this.#o.blockDeviceDriver === "virtio-scsi") {
            let lun = 0;
            while (this.#luns.has(lun) || coldLun(devices, lun)) lun++;
            await qmp.deviceAdd(scsiHdProps(b.id, node, lun));
            this.#luns.add(lun);
            return { ...b, guestPath: `0:${lun}` };
          }
          const port = this.#freePort(b.id);
          try {
            await qmp.deviceAdd({ ...virtioBlkProps(b.id, node), bus: `rp${port}` });
          } catch (e) {
            this.#ports.delete(port);
            throw e;
          }
          return { ...b, guestPath: pciPath(port) };
        } catch (e) {
          this.#hotNodes.delete(b.id);
          await qmp.blockdevDel(node).catch(() => {});
          throw e;
        }
      }
      case "share_fs":
        throw new UnimplementedError(
          `Cannot add shared file system "${d.mountTag}" to a running QEMU VM: ` +
            `9p cannot be hotplugged and virtio-fs needs shared memory from boot`,
        );
      default:
        throw new UnimplementedError(`Cannot hotplug ${d.kind} device "${d.id}" into QEMU`);
    }
  }

  /** Unplugs `dev` from the running VM and frees its port or LUN. */
  async unplug(qmp: QmpClient, dev: Tracked): Promise<void> {
    const id = dev.id;
    switch (dev.kind) {
      case "network":
        await qmp.deviceDel(qemuId("nic", id));
        await qmp.netdevDel(qemuId("net", id));
        break;
      case "block":
        await qmp.deviceDel(qemuId("blk", id));
        // Hotplugged drives have a blockdev node to drop; -drive ones go with the device.
        if (this.#hotNodes.delete(id)) await qmp.blockdevDel(qemuId("node", id));
        break;
      default:
        throw new UnimplementedError(
          `Cannot remove ${dev.kind} device "${id}" from a running QEMU VM`,
        );
    }
    for (const [port, owner] of this.#ports) if (owner === id) this.#ports.delete(port);
    if (dev.kind === "block" && dev.guestPath?.startsWith("0:")) {
      this.#luns.delete(Number(dev.guestPath.slice(2)));
    }
  }

  #freePort(id: string): number {
    for (let i = 0; i < this.#o.hotplugPorts; i++) {
      if (!this.#ports.has(i)) {
        this.#ports.set(i, id);
        return i;
      }
    }
    throw new UnavailableError(
      `Cannot hotplug device "${id}": all ${this.#o.hotplugPorts} PCIe root ports are in use ` +
        `(raise pcie_root_port)`,
    );
  }
}

function coldLun(devices: Iterable<Tracked>, lun: number): boolean {
  for (const d of devices) {
    if (d.kind === "block" && d.guestPath === `0:${lun}`) return true;
  }
  return false;
}
