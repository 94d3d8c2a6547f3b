/**
 * The sandbox's shared file system: the host directory of {@link SharedLayout}
 * given to the VM as virtio-fs (through the configured `virtiofsd`, see
 * virtiofsd.ts), inline virtio-fs (served by the built-in VMM itself) or
 * virtio-9p (QEMU, the built-in VMM), exactly as `shared_fs` says, or nothing at all for VMMs without file sharing (Firecracker), where
 * rootfs goes as a block device and volumes are copied with CopyFile.
 * {@link ShareFs.detach} undoes exactly what {@link ShareFs.attach} did.
 * @module
 */
import { FailedPreconditionError, UnimplementedError } from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import type { Device } from "../../hypervisor/device.ts";
import { GUEST_SHARED_DIR, KATA_SHARED_TAG, type SharedLayout } from "./layout.ts";
import { removeTreeSafely } from "./mounts.ts";
import { type DaemonIdentity, Virtiofsd } from "./virtiofsd.ts";

const log = getLogger("resource.share_fs");

/** How files reach the guest. */
type ShareFsKind = "virtio-9p" | "virtio-fs" | "inline-virtio-fs" | "none";

/** A Kata agent `Storage`, as plain fields (the generated message's init shape). */
export interface AgentStorage {
  driver: string;
  driverOptions: string[];
  source: string;
  fstype: string;
  options: string[];
  mountPoint: string;
}

/** The 9p mount options the guest uses (msize large enough for reasonable throughput). */
const NINEP_OPTIONS = [
  "trans=virtio",
  "version=9p2000.L",
  "cache=mmap",
  "nodev",
  "msize=512000",
];

/** What the share needs from the VM's device manager. */
interface DeviceAttacher {
  attach(d: Device): Promise<unknown>;
}

/**
 * Picks the sharing kind from `shared_fs`, as configured: none when the VMM
 * cannot share or the config says `none`; virtio-fs for `virtio-fs` (its
 * daemon is checked when the share starts, and a missing one is an error,
 * never a quiet switch to 9p); inline virtio-fs for `inline-virtio-fs` where
 * the VMM serves it itself (`inline`: the built-in VMM); 9p only for
 * `virtio-9p`. Kinds this project does not implement fail naming the value.
 */
export function chooseShareFs(configured: string, fsSharing: boolean, inline = false): ShareFsKind {
  if (!fsSharing || configured === "none") return "none";
  switch (configured) {
    case "virtio-fs":
      return "virtio-fs";
    case "virtio-9p":
      return "virtio-9p";
    case "inline-virtio-fs":
      if (inline) return "inline-virtio-fs";
      throw new UnimplementedError(
        'shared_fs = "inline-virtio-fs" is served only by the built-in VMM (hypervisor ' +
          '"dragonball"); with this hypervisor set shared_fs = "virtio-fs" and virtio_fs_daemon',
      );
    default:
      throw new UnimplementedError(`shared_fs = "${configured}" is not supported`);
  }
}

/** Options of {@link ShareFs}. */
interface ShareFsOptions {
  /** The `virtiofsd` executable (virtio-fs only). */
  virtiofsd?: string;
  /** `virtio_fs_cache` (`auto`, `always`, `never`; default never, as upstream). */
  cache?: string;
  /** `virtio_fs_extra_args`. */
  extraArgs?: string[];
  /** DAX window in MiB (`virtio_fs_cache_size`). */
  cacheSizeMib?: number;
  /** How long to wait for virtiofsd's socket. */
  daemonTimeoutMs?: number;
}

/** The shared file system of one sandbox. */
export class ShareFs {
  #attached = false;
  #daemon: Virtiofsd | null = null;

  constructor(
    readonly layout: SharedLayout,
    readonly kind: ShareFsKind,
    readonly opts: ShareFsOptions = {},
  ) {}

  /** Whether files are shared (else rootfs and volumes take the block/CopyFile paths). */
  get shared(): boolean {
    return this.kind !== "none";
  }

  /** The virtiofsd socket path. */
  get socketPath(): string {
    return `${this.layout.sandboxDir}/virtiofsd.sock`;
  }

  /** Creates the shared directory, starts virtiofsd where used, and gives the device to the VM. */
  async attach(devices: DeviceAttacher): Promise<void> {
    if (this.#attached) {
      throw new FailedPreconditionError(
        `Shared file system of ${this.layout.sandboxDir} is attached already`,
      );
    }
    if (this.kind === "none") {
      this.#attached = true;
      return;
    }
    Deno.mkdirSync(this.layout.hostDir, { recursive: true, mode: 0o750 });
    this.#attached = true;
    try {
      if (this.kind === "virtio-fs") {
        await this.#startDaemon();
        await devices.attach({
          kind: "share_fs",
          fsType: "virtio-fs",
          mountTag: KATA_SHARED_TAG,
          hostPath: this.layout.hostDir,
          socketPath: this.socketPath,
          cacheSizeMib: this.opts.cacheSizeMib ?? 0,
        });
      } else if (this.kind === "inline-virtio-fs") {
        await devices.attach(this.#inlineDevice());
      } else {
        await devices.attach({
          kind: "share_fs",
          fsType: "virtio-9p",
          mountTag: KATA_SHARED_TAG,
          hostPath: this.layout.hostDir,
        });
      }
    } catch (e) {
      await this.detach();
      throw e;
    }
  }

  /** The inline virtio-fs device: no daemon, so its arguments are ignored, and no DAX window. */
  #inlineDevice(): Device {
    if ((this.opts.cacheSizeMib ?? 0) > 0) {
      throw new UnimplementedError(
        `virtio_fs_cache_size = ${this.opts.cacheSizeMib}: inline virtio-fs has no DAX window ` +
          "(set virtio_fs_cache_size = 0 or virtio_fs_is_dax = false)",
      );
    }
    if ((this.opts.extraArgs ?? []).length > 0) {
      log.warn("virtio_fs_extra_args {args} are ignored: inline virtio-fs runs no virtiofsd", {
        args: this.opts.extraArgs!.join(" "),
      });
    }
    return {
      kind: "share_fs",
      fsType: "inline-virtio-fs",
      mountTag: KATA_SHARED_TAG,
      hostPath: this.layout.hostDir,
      cache: this.opts.cache || "never",
    };
  }

  async #startDaemon(): Promise<void> {
    const bin = this.opts.virtiofsd;
    if (!bin) {
      throw new FailedPreconditionError(
        'Cannot share files with virtio-fs: virtio_fs_daemon is not set (or set shared_fs = "virtio-9p")',
      );
    }
    this.#daemon = await Virtiofsd.start(bin, {
      socketPath: this.socketPath,
      sharedDir: this.layout.hostDir,
      cache: this.opts.cache || "never",
      extraArgs: this.opts.extraArgs ?? [],
    }, this.opts.daemonTimeoutMs);
  }

  /** The running virtiofsd's pid, start time and executable (virtio-fs only), for saved state. */
  get daemonIdentity(): DaemonIdentity | null {
    return this.#daemon?.identity ?? null;
  }

  async #stopDaemon(): Promise<void> {
    const d = this.#daemon;
    if (!d) return;
    this.#daemon = null;
    await d.stop();
  }

  /** The storages CreateSandbox needs to mount the share in the guest (none when not shared). */
  storages(): AgentStorage[] {
    if (this.kind === "none") return [];
    // The guest mounts inline virtio-fs exactly as virtiofsd's: `-t virtiofs <tag>`.
    const virtiofs = this.kind !== "virtio-9p";
    return [{
      driver: virtiofs ? "virtio-fs" : "9p",
      driverOptions: [],
      source: KATA_SHARED_TAG,
      fstype: virtiofs ? "virtiofs" : "9p",
      options: virtiofs ? [] : [...NINEP_OPTIONS],
      mountPoint: `${GUEST_SHARED_DIR}/`,
    }];
  }

  /** Stops virtiofsd and removes the shared directory (after unmounting anything left in it). */
  async detach(): Promise<void> {
    if (!this.#attached) return;
    await this.#stopDaemon();
    if (this.kind !== "none") removeTreeSafely(this.layout.hostDir);
    this.#attached = false;
  }
}
