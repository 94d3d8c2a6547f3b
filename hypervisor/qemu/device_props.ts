/**
 * QEMU device properties, one definition per device kind for both paths a
 * device takes: the `-device driver,key=value,...` argument of a cold plug
 * (`command_line.ts`) and the typed `device_add` object of a hotplug over
 * QMP (`hotplug.ts`). {@link deviceArg} is the one encoder from the typed form
 * to the command-line form.
 * @module
 */
import type { NetworkDevice } from "../device.ts";

/** A device's properties as QMP's `device_add` takes them: `driver`, `id`, then the rest. */
type DeviceProps =
  & { driver: string; id: string }
  & Record<string, string | number | boolean>;

/** Escapes a value inside a QEMU `key=value,...` option (a comma is written twice). */
export function qemuEscape(v: string): string {
  return v.replaceAll(",", ",,");
}

/** QEMU's device/netdev ids are limited; ours stay short and safe. */
export function qemuId(prefix: string, id: string): string {
  return `${prefix}-${id.replace(/[^A-Za-z0-9_.-]/g, "_")}`.slice(0, 31);
}

/**
 * Encodes typed properties as a `-device` argument: the driver first, then
 * each property in order (booleans as on/off, strings escaped), then `where`
 * (a placement such as `addr=0x05` or `bus=rp0`) when given.
 */
export function deviceArg(props: DeviceProps, where?: string): string {
  const { driver, ...rest } = props;
  const kv = Object.entries(rest).map(([k, v]) =>
    `${k}=${v === true ? "on" : v === false ? "off" : typeof v === "string" ? qemuEscape(v) : v}`
  );
  return [driver, ...kv, ...(where ? [where] : [])].join(",");
}

/** Properties of a NIC, its netdev named `net-<id>`. */
export function virtioNetProps(n: NetworkDevice & { id: string }): DeviceProps {
  return {
    driver: "virtio-net-pci",
    netdev: qemuId("net", n.id),
    id: qemuId("nic", n.id),
    mac: n.guestMac,
    // No iPXE option ROM: the guest boots from -kernel, and loading the ROM costs seconds.
    romfile: "",
    ...(n.queues > 1 ? { mq: true, vectors: 2 * n.queues + 2 } : {}),
    ...(n.mtu ? { host_mtu: n.mtu } : {}),
  };
}

/** Properties of a virtio-blk disk `id` on drive node `node` (placed by the caller). */
export function virtioBlkProps(id: string, node: string): DeviceProps {
  return { driver: "virtio-blk-pci", drive: node, id: qemuId("blk", id) };
}

/** Properties of a SCSI disk `id` on drive node `node`, at `lun` of the controller `scsi0`. */
export function scsiHdProps(id: string, node: string, lun: number): DeviceProps {
  return {
    driver: "scsi-hd",
    drive: node,
    id: qemuId("blk", id),
    bus: "scsi0.0",
    channel: 0,
    "scsi-id": 0,
    lun,
  };
}
