/**
 * The sandbox's shared file system: the host directory of {@link SharedLayout}
 * given to the VM as virtio-9p (QEMU, the built-in VMM) or virtio-fs (through
 * a `virtiofsd` daemon, when the config asks for it and the daemon exists),
 * or nothing at all for VMMs without file sharing (Firecracker), where
 * rootfs goes as a block device and volumes are copied with CopyFile.
 * {@link ShareFs.detach} undoes exactly what {@link ShareFs.attach} did.
 * @module
 */
import { FailedPreconditionError, UnavailableError } from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import type { Device } from "../../hypervisor/device.ts";
import { GUEST_SHARED_DIR, KATA_SHARED_TAG, type SharedLayout } from "./layout.ts";
import { removeTreeSafely } from "./mounts.ts";

const log = getLogger("resource.share_fs");

/** How files reach the guest. */
export type ShareFsKind = "virtio-9p" | "virtio-fs" | "none";

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
export const NINEP_OPTIONS = [
  "trans=virtio",
  "version=9p2000.L",
  "cache=mmap",
  "nodev",
  "msize=512000",
];

/** What the share needs from the VM's device manager. */
export interface DeviceAttacher {
  attach(d: Device): Promise<unknown>;
}

/**
 * Picks the sharing kind: none when the VMM cannot share or the config says
 * `none`; virtio-fs when asked for and `virtiofsd` is present; otherwise 9p.
 */
export function chooseShareFs(
  configured: string,
  fsSharing: boolean,
  virtiofsdPresent: boolean,
): ShareFsKind {
  if (!fsSharing || configured === "none") return "none";
  if ((configured === "virtio-fs" || configured === "inline-virtio-fs") && virtiofsdPresent) {
    return "virtio-fs";
  }
  if (configured === "virtio-fs" || configured === "inline-virtio-fs") {
    log.warn(`shared_fs = "${configured}" asked for but virtiofsd is missing; using virtio-9p`);
  }
  return "virtio-9p";
}

/** Options of {@link ShareFs}. */
export interface ShareFsOptions {
  /** The `virtiofsd` executable (virtio-fs only). */
  virtiofsd?: string;
  /** `virtio_fs_cache` (`auto`, `always`, `never`). */
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
  #daemon: Deno.ChildProcess | null = null;

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

  async #startDaemon(): Promise<void> {
    const bin = this.opts.virtiofsd;
    if (!bin) throw new FailedPreconditionError("Cannot start virtio-fs: no virtiofsd configured");
    await Deno.remove(this.socketPath).catch(() => {});
    const args = [
      `--socket-path=${this.socketPath}`,
      `--shared-dir=${this.layout.hostDir}`,
      `--cache=${this.opts.cache || "auto"}`,
      "--sandbox=none",
      "--announce-submounts",
      ...(this.opts.extraArgs ?? []),
    ];
    log.debug("starting {bin} {args}", { bin, args: args.join(" ") });
    this.#daemon = new Deno.Command(bin, { args, stdin: "null", stdout: "null", stderr: "piped" })
      .spawn();
    const status = this.#daemon.status;
    const deadline = Date.now() + (this.opts.daemonTimeoutMs ?? 5000);
    let exited = false;
    status.then(() => (exited = true));
    while (Date.now() < deadline && !exited) {
      try {
        if (Deno.statSync(this.socketPath).isSocket) return;
      } catch { /* not yet */ }
      await new Promise((r) => setTimeout(r, 10));
    }
    const err = exited ? new TextDecoder().decode((await this.#daemon.output()).stderr) : "";
    await this.#stopDaemon();
    throw new UnavailableError(
      `virtiofsd for ${this.layout.hostDir} did not come up${
        exited ? `: ${err.trim()}` : " in time"
      }`,
    );
  }

  async #stopDaemon(): Promise<void> {
    const d = this.#daemon;
    if (!d) return;
    this.#daemon = null;
    try {
      d.kill("SIGKILL");
    } catch { /* already gone */ }
    await d.status;
    await d.stderr.cancel().catch(() => {});
    await Deno.remove(this.socketPath).catch(() => {});
  }

  /** The storages CreateSandbox needs to mount the share in the guest (none when not shared). */
  storages(): AgentStorage[] {
    if (this.kind === "none") return [];
    const virtiofs = this.kind === "virtio-fs";
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
