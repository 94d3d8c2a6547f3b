/**
 * Devices a sandbox attaches to its VM, as one discriminated union on `kind`.
 * Every driver takes these same shapes; what a driver cannot do it refuses
 * with a clear error (VFIO is refused everywhere for now).
 * @module
 */
import { AlreadyExistsError, InvalidArgumentError, UnimplementedError } from "../common/errors.ts";

/** One token bucket of a rate limiter (Firecracker's `TokenBucket`). */
interface TokenBucket {
  /** Bucket size: bytes for bandwidth, operations for ops. */
  size: number;
  /** Time in milliseconds to refill the whole bucket. */
  refillTimeMs: number;
  /** Extra initial burst, used once. */
  oneTimeBurst?: number;
}

/** A rate limiter: a bandwidth bucket, an ops bucket, or both. */
export interface RateLimiter {
  bandwidth?: TokenBucket;
  ops?: TokenBucket;
}

/** A token bucket as Firecracker and Cloud Hypervisor take it in JSON (snake_case). */
export interface TokenBucketJson {
  size: number;
  refill_time: number;
  one_time_burst?: number;
}

/** A rate limiter as Firecracker and Cloud Hypervisor take it in JSON. */
export interface RateLimiterJson {
  bandwidth?: TokenBucketJson;
  ops?: TokenBucketJson;
}

/** Converts a rate limiter to the VMMs' JSON object (never a string); none when it limits nothing. */
export function rateLimiterJson(r: RateLimiter | undefined): RateLimiterJson | undefined {
  if (!r || (!r.bandwidth && !r.ops)) return undefined;
  const bucket = (b: TokenBucket): TokenBucketJson => ({
    size: b.size,
    refill_time: b.refillTimeMs,
    ...(b.oneTimeBurst ? { one_time_burst: b.oneTimeBurst } : {}),
  });
  return {
    ...(r.bandwidth ? { bandwidth: bucket(r.bandwidth) } : {}),
    ...(r.ops ? { ops: bucket(r.ops) } : {}),
  };
}

/** A disk image or block device given to the guest. */
export interface BlockDevice {
  kind: "block";
  /** Device id; the device manager assigns one when absent. */
  id?: string;
  /** Host path of the file or block device. */
  path: string;
  readOnly: boolean;
  /** Drive index as the guest sees it (vda = 0); chosen by the driver when absent. */
  index?: number;
  /** Boot disk holding the guest's root file system. */
  isVmRootfs?: boolean;
  rateLimiter?: RateLimiter;
  /** Set by the driver: the guest-visible address (PCI path, `/dev/vdX`, …), when known. */
  guestPath?: string;
}

/** A tap-backed NIC. */
export interface NetworkDevice {
  kind: "network";
  id?: string;
  /** Host tap device name (drivers that cannot take fds open it by name). */
  tapName: string;
  /** Open tap queue fds, for drivers that take fds (one per queue). */
  tapFds?: number[];
  /** Guest MAC, `aa:bb:cc:dd:ee:ff`. */
  guestMac: string;
  /** Number of queue pairs; 1 = single-queue tap. */
  queues: number;
  /** Virtqueue size. */
  queueSize?: number;
  mtu?: number;
  /** Name of the pod interface this NIC stands for (the veth), for logs and the agent. */
  virtIfaceName?: string;
  rxRateLimiter?: RateLimiter;
  txRateLimiter?: RateLimiter;
  /** Use vhost-net where the driver supports it. */
  vhost?: boolean;
}

/** The agent channel: vhost-vsock (QEMU) or hybrid vsock over a Unix socket. */
interface VsockDevice {
  kind: "vsock";
  id?: string;
  /** Guest CID, at least 3. */
  guestCid: number;
  /** Set for hybrid vsock: the host Unix socket the VMM listens on. */
  udsPath?: string;
}

/** A host directory shared into the guest. */
export interface ShareFsDevice {
  kind: "share_fs";
  id?: string;
  /**
   * virtio-9p and inline-virtio-fs are served by the VMM itself (QEMU's 9p,
   * the built-in VMM's 9p and virtio-fs); virtio-fs goes through virtiofsd.
   */
  fsType: "virtio-9p" | "virtio-fs" | "inline-virtio-fs";
  /** Mount tag the guest uses (Kata uses `kataShared`). */
  mountTag: string;
  /** Host directory (9p, inline virtio-fs). */
  hostPath: string;
  /** `virtio_fs_cache` for inline virtio-fs (never, auto, always). */
  cache?: string;
  /** virtiofsd socket (virtio-fs). */
  socketPath?: string;
  /** Virtio-fs DAX window in MiB, 0 = none. */
  cacheSizeMib?: number;
}

/** A VFIO passthrough device: refused by every driver for now. */
export interface VfioDevice {
  kind: "vfio";
  id?: string;
  /** PCI address `0000:06:02.5`. */
  bdf: string;
}

/** Any device. */
export type Device = BlockDevice | NetworkDevice | VsockDevice | ShareFsDevice | VfioDevice;

/** The discriminant of {@link Device}. */
type DeviceKind = Device["kind"];

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** Checks the fields every driver relies on; throws InvalidArgumentError naming the field. */
export function validateDevice(d: Device): void {
  const what = `${d.kind} device${d.id ? ` "${d.id}"` : ""}`;
  const bad = (reason: string) => {
    throw new InvalidArgumentError(`Invalid ${what}: ${reason}`);
  };
  switch (d.kind) {
    case "block":
      if (!d.path) bad("path is empty");
      if (d.index !== undefined && (!Number.isInteger(d.index) || d.index < 0)) {
        bad(`index ${d.index} is not a non-negative integer`);
      }
      if (d.rateLimiter) validateRateLimiter(d.rateLimiter, bad);
      break;
    case "network":
      if (!d.tapName) bad("tap name is empty");
      if (d.tapName.length > 15) bad(`tap name "${d.tapName}" is longer than 15 bytes`);
      if (!MAC_RE.test(d.guestMac)) bad(`guest MAC "${d.guestMac}" is not aa:bb:cc:dd:ee:ff`);
      if (!Number.isInteger(d.queues) || d.queues < 1) bad(`queues ${d.queues} is not >= 1`);
      if (d.tapFds && d.tapFds.length !== d.queues) {
        bad(`${d.tapFds.length} tap fds given for ${d.queues} queues`);
      }
      if (d.rxRateLimiter) validateRateLimiter(d.rxRateLimiter, bad);
      if (d.txRateLimiter) validateRateLimiter(d.txRateLimiter, bad);
      break;
    case "vsock":
      if (!Number.isInteger(d.guestCid) || d.guestCid < 3 || d.guestCid > 0xfffffffe) {
        bad(`guest CID ${d.guestCid} is not an integer in [3, 2^32-2]`);
      }
      break;
    case "share_fs":
      if (!d.mountTag) bad("mount tag is empty");
      if (d.fsType !== "virtio-fs" && !d.hostPath) bad("host path is empty");
      if (d.fsType === "virtio-fs" && !d.socketPath) bad("virtiofsd socket path is empty");
      break;
    case "vfio":
      if (!/^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/i.test(d.bdf)) {
        bad(`"${d.bdf}" is not a PCI address`);
      }
      break;
    default:
      throw new InvalidArgumentError(`Unknown device kind ${JSON.stringify((d as Device).kind)}`);
  }
}

function validateRateLimiter(r: RateLimiter, bad: (reason: string) => never): void {
  for (const [name, b] of [["bandwidth", r.bandwidth], ["ops", r.ops]] as const) {
    if (!b) continue;
    for (const [field, v] of [["size", b.size], ["refill time", b.refillTimeMs]] as const) {
      if (!Number.isSafeInteger(v) || v < 0) bad(`rate limiter ${name} ${field} ${v} is invalid`);
    }
    if (
      b.oneTimeBurst !== undefined && (!Number.isSafeInteger(b.oneTimeBurst) || b.oneTimeBurst < 0)
    ) {
      bad(`rate limiter ${name} one-time burst ${b.oneTimeBurst} is invalid`);
    }
  }
}

/**
 * Builds the rate limiter runtime-rs gives a NIC for `*_rate_limiter_max_rate`:
 * a bandwidth bucket of `rate` bytes refilled every second; none when rate is 0.
 */
export function rateLimiterFromMaxRate(rate: number): RateLimiter | undefined {
  if (!rate) return undefined;
  if (!Number.isSafeInteger(rate) || rate < 0) {
    throw new InvalidArgumentError(`Invalid rate limiter max rate ${rate}: not a positive integer`);
  }
  return { bandwidth: { size: rate, refillTimeMs: 1000 } };
}

/** A fresh device id: 8 random bytes as 16 hex digits, like runtime-rs. */
export function newDeviceId(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * The id a driver files a device under when the caller gave none: a NIC's tap
 * name (unique per VM, so callers that keep only the device they sent can
 * remove it later), otherwise undefined.
 */
export function implicitDeviceId(d: Device): string | undefined {
  return d.id || (d.kind === "network" ? d.tapName : undefined);
}

/** Refuses a VFIO device, which no driver passes through yet (the one refusal all use). */
export function refuseVfio(d: Device): asserts d is Exclude<Device, VfioDevice> {
  if (d.kind === "vfio") {
    throw new UnimplementedError(
      `Cannot add VFIO device ${d.bdf}: VFIO passthrough is not supported`,
    );
  }
}

/** The error for a device whose id the VM already has (the one code all use). */
export function duplicateDevice(d: Device, id: string): AlreadyExistsError {
  return new AlreadyExistsError(`Cannot add ${d.kind} device "${id}": id already in use`);
}

/** Refuses NICs handed over as open fds (macvtap): Deno cannot pass fds to a VMM. */
export function refuseTapFds(d: Device, driver: string): void {
  if (d.kind === "network" && d.tapFds?.length) {
    throw new UnimplementedError(
      `Cannot add network device "${d.id ?? d.tapName}" to ${driver}: taps given as open fds ` +
        `(macvtap) are not supported, the VMM opens taps by name; use internetworking_model = "tcfilter"`,
    );
  }
}
