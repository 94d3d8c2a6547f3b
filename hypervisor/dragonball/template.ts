/**
 * VM templates of the built-in VMM (`[hypervisor.dragonball.factory]`): the
 * device layout every template VM and every clone shares, the fingerprint a
 * clone's configuration must match, and where a template's files live. A
 * template is one VM booted to a ready agent with no sandbox state, paused
 * and saved to `template_path` (its RAM file on tmpfs, `state.json`
 * beside it); a clone maps that RAM copy-on-write and resumes.
 *
 * The layout: the rootfs image disk (when there is one), one 9p share
 * (mount tag `kataShared`, not mounted by the template's guest), one NIC
 * (a slot without a tap in the template; the clone's pod tap, or again a
 * slot), the block slots, the hybrid vsock. A sandbox whose devices do not
 * fit it (cold-plugged disks, more NICs, another share) boots cold.
 * @module
 */
import type { Device } from "../device.ts";
import type { DeviceSpec } from "./device_specs.ts";
import { type FileId, fileIdentity, type Fingerprint } from "./snapshot/fingerprint.ts";

/**
 * The MAC of a template's NIC slot (locally administered). A clone's guest
 * still has it on its NIC; the runtime names it to the agent, which gives
 * the NIC the pod's MAC (agent/guest/network.ts, `template-mac=`).
 */
export const TEMPLATE_NIC_MAC = "02:00:00:00:7e:01";

/** The mount tag of the share every template has. */
const TEMPLATE_SHARE_TAG = "kataShared";

/** What shapes a template: the boot files, the size, the command line. */
export interface TemplateBase {
  kernel: string;
  initrd: string;
  image: string;
  vcpus: number;
  memoryMib: number;
  cmdline: string;
}

/** The devices of a template-shaped VM (the block slots are placed by the driver). */
interface TemplateLayout {
  specs: DeviceSpec[];
  /** The layout in words, part of the fingerprint. */
  describe: string;
}

/**
 * The template layout for a sandbox's cold-plugged devices, or why they do
 * not fit it. `devices` are the driver's collected devices; the template VM
 * itself passes none and gets a NIC slot and a share of `emptyShare`.
 */
export function templateLayout(
  image: string,
  devices: readonly Device[],
  vsock: { udsPath: string; guestCid: number },
  emptyShare: string,
  netns: string,
  blockSlots: number,
): TemplateLayout | { misfit: string } {
  const shares = devices.filter((d) => d.kind === "share_fs");
  const nics = devices.filter((d) => d.kind === "network");
  const other = devices.filter((d) => d.kind !== "share_fs" && d.kind !== "network");
  if (other.length > 0) {
    return { misfit: `it has cold-plugged ${other.map((d) => d.kind).join(", ")} devices` };
  }
  if (nics.length > 1) return { misfit: `it has ${nics.length} NICs (a template has one)` };
  if (shares.length > 1 || shares.some((s) => s.mountTag !== TEMPLATE_SHARE_TAG)) {
    return { misfit: `its shared directories differ from one "${TEMPLATE_SHARE_TAG}" share` };
  }
  const specs: DeviceSpec[] = [];
  if (image) specs.push({ kind: "block", path: image, readOnly: true });
  specs.push({ kind: "9p", tag: TEMPLATE_SHARE_TAG, dir: shares[0]?.hostPath ?? emptyShare });
  const nic = nics[0];
  specs.push(
    nic
      ? { kind: "net", tap: nic.tapName, netns, mac: nic.guestMac }
      : { kind: "net-slot", mac: TEMPLATE_NIC_MAC },
  );
  specs.push({ kind: "vsock", ...vsock });
  return {
    specs,
    describe: `${image ? "blk(image) " : ""}blk(slot)x${blockSlots} 9p(${TEMPLATE_SHARE_TAG}) ` +
      `net vsock(${vsock.guestCid})`,
  };
}

function identity(path: string): FileId | null {
  return path ? fileIdentity(path) : null;
}

/** The fingerprint of a template-shaped VM of `base` with `layout`. */
export function templateFingerprint(base: TemplateBase, layout: TemplateLayout): Fingerprint {
  return {
    kernel: fileIdentity(base.kernel),
    initrd: identity(base.initrd),
    image: identity(base.image),
    vcpus: base.vcpus,
    memoryMib: base.memoryMib,
    cmdline: base.cmdline,
    devices: layout.describe,
  };
}

/** Files of a template directory beyond the saved form's (saved_form.ts). */
export function templateFiles(dir: string): { building: string; share: string } {
  return { building: `${dir}/memory.building`, share: `${dir}/share` };
}
