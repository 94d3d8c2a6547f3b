/**
 * Devices passed into a container (CreateContainerRequest.devices): the
 * shim's spec carries the host's device numbers; the agent finds the guest
 * node (a PCI path for virtio-blk, a device path otherwise) and puts the
 * guest's major/minor into the spec's device list and device cgroup rules.
 * @module
 */
import type { Device } from "../gen/agent_pb.ts";
import { InvalidArgumentError, UnimplementedError } from "../../common/errors.ts";
import { splitRdev } from "../../common/fs.ts";
import type { OciSpec } from "./oci_spec.ts";
import type { BlockResolver } from "./storage.ts";

/** A device node's kind and numbers. */
interface DeviceNode {
  type: "b" | "c";
  major: number;
  minor: number;
}

/**
 * The guest node of device `d`.
 * @throws {UnimplementedError} for device types the agent cannot place
 */
export async function guestNodePath(d: Device, resolveBlock: BlockResolver): Promise<string> {
  if (!d.containerPath) {
    throw new InvalidArgumentError(`Invalid device "${d.id}": no container path`);
  }
  if (d.vmPath.startsWith("/dev/")) return d.vmPath;
  if (d.type === "blk" || d.type === "virtio-blk") return await resolveBlock(d.vmPath);
  throw new UnimplementedError(
    `Device "${d.id}" of type "${d.type}" at "${d.vmPath}" is not supported`,
  );
}

/** Reads the kind and numbers of the device node at `path`. */
export async function readDeviceNode(path: string): Promise<DeviceNode> {
  const st = await Deno.stat(path);
  if (!st.isBlockDevice && !st.isCharDevice) {
    throw new InvalidArgumentError(`${path} is not a device node`);
  }
  return { type: st.isBlockDevice ? "b" : "c", ...splitRdev(st.rdev ?? 0) };
}

interface SpecDevice {
  path: string;
  type: string;
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}
interface CgroupRule {
  allow: boolean;
  type?: string;
  major?: number;
  minor?: number;
  access?: string;
}

/**
 * Points the spec's device `containerPath` at the guest node `node`: the
 * matching linux.devices entry (added when missing) gets the guest numbers,
 * cgroup rules naming the host numbers are rewritten, and an allow rule for
 * the guest numbers is added.
 */
export function applyDevice(spec: OciSpec, containerPath: string, node: DeviceNode): OciSpec {
  const out: OciSpec = structuredClone(spec);
  const linux = (out.linux ??= {}) as Record<string, unknown>;
  const devices = (linux.devices ??= []) as SpecDevice[];
  let entry = devices.find((d) => d.path === containerPath);
  const host = entry ? { major: entry.major, minor: entry.minor } : undefined;
  if (!entry) {
    entry = {
      path: containerPath,
      type: node.type,
      major: 0,
      minor: 0,
      fileMode: 0o660,
      uid: 0,
      gid: 0,
    };
    devices.push(entry);
  }
  entry.type = node.type;
  entry.major = node.major;
  entry.minor = node.minor;
  const resources = (linux.resources ??= {}) as Record<string, unknown>;
  const rules = (resources.devices ??= []) as CgroupRule[];
  if (host) {
    for (const r of rules) {
      if (r.major === host.major && r.minor === host.minor) {
        r.major = node.major;
        r.minor = node.minor;
      }
    }
  }
  if (!rules.some((r) => r.allow && r.major === node.major && r.minor === node.minor)) {
    rules.push({
      allow: true,
      type: node.type,
      major: node.major,
      minor: node.minor,
      access: "rwm",
    });
  }
  return out;
}
