/**
 * The one place that turns a device spec into a built-in VMM device: the
 * driver (from the sandbox's devices) and the `vmm` command (from its flags)
 * both describe what they want as {@link DeviceSpec}s and open them here.
 * @module
 */
import type { VirtioDevice } from "./devices/virtio/device.ts";
import { VirtioBlock } from "./devices/virtio_blk/block.ts";
import { VirtioNet } from "./devices/virtio_net/net.ts";
import { Virtio9p } from "./devices/virtio_9p/virtio_9p.ts";
import { VirtioFs } from "./devices/virtio_fs/virtio_fs.ts";
import { VirtioVsock } from "./devices/virtio_vsock/vsock.ts";

/** A device of the built-in VMM, described before it is opened. */
export type DeviceSpec =
  /** virtio-blk on a host file; `id` is what the guest reads as the disk id. */
  | { kind: "block"; path: string; readOnly: boolean; id?: string }
  /** virtio-net on an existing tap, opened inside `netns` (empty: this netns). */
  | { kind: "net"; tap: string; netns: string; mac?: string }
  /** virtio-net without a tap (a template's NIC slot). */
  | { kind: "net-slot"; mac?: string }
  /** virtio-9p sharing `dir` under mount tag `tag`. */
  | { kind: "9p"; tag: string; dir: string; readOnly?: boolean }
  /** virtio-fs served in the VMM, sharing `dir` under `tag`; `cache` is `virtio_fs_cache`. */
  | { kind: "virtio-fs"; tag: string; dir: string; cache?: string; readOnly?: boolean }
  /** Hybrid vsock: the host side listens on `udsPath`. */
  | { kind: "vsock"; udsPath: string; guestCid: number };

/** Opens one device. */
async function openDevice(spec: DeviceSpec): Promise<VirtioDevice> {
  switch (spec.kind) {
    case "block":
      return VirtioBlock.open(spec.path, { readOnly: spec.readOnly, id: spec.id });
    case "net":
      return VirtioNet.open(spec.tap, { netns: spec.netns, mac: spec.mac });
    case "net-slot":
      return VirtioNet.slot(spec.mac);
    case "9p":
      return new Virtio9p(spec.tag, spec.dir, { readOnly: spec.readOnly });
    case "virtio-fs":
      return new VirtioFs(spec.tag, spec.dir, { cache: spec.cache, readOnly: spec.readOnly });
    case "vsock":
      return await VirtioVsock.listen(spec.udsPath, spec.guestCid);
  }
}

/** Opens the devices in order; closes what it opened if one fails. */
export async function openDevices(specs: readonly DeviceSpec[]): Promise<VirtioDevice[]> {
  const out: VirtioDevice[] = [];
  try {
    for (const spec of specs) out.push(await openDevice(spec));
    return out;
  } catch (e) {
    for (const d of out) await d.close();
    throw e;
  }
}
