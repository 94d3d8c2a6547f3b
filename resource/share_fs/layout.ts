/**
 * Where shared files live, on the host and in the guest. The sandbox's
 * shared directory `<sandboxDir>/shared` is exported to the guest under the
 * mount tag `kataShared` and mounted there at
 * `/run/kata-containers/shared/containers/`; a container's rootfs goes to
 * `<shared>/<cid>/rootfs` (guest `…/containers/<cid>/rootfs`) and each shared
 * volume to `<shared>/<cid>-<hex>-<basename>`.
 * @module
 */
import { InvalidArgumentError } from "../../common/errors.ts";

/** The mount tag Kata gives the shared directory. */
export const KATA_SHARED_TAG = "kataShared";
/** Where the guest mounts the shared directory. */
export const GUEST_SHARED_DIR = "/run/kata-containers/shared/containers";
/** Where the guest mounts per-container block rootfs devices. */
export const GUEST_CONTAINER_DIR = "/run/kata-containers";

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Throws unless `id` is safe as one path component. */
export function checkId(id: string, what = "container id"): void {
  if (!ID_RE.test(id) || id === "." || id === "..") {
    throw new InvalidArgumentError(`Invalid ${what} ${JSON.stringify(id)}: not a safe name`);
  }
}

/** Host and guest paths of one sandbox's shared directory. */
export class SharedLayout {
  /** `sandboxDir` is the sandbox's run directory (`/run/kata/<sid>`). */
  constructor(readonly sandboxDir: string) {}

  /** The host directory exported to the guest. */
  get hostDir(): string {
    return `${this.sandboxDir}/shared`;
  }

  /** Host directory where a container's rootfs is mounted. */
  rootfsHost(cid: string): string {
    checkId(cid);
    return `${this.hostDir}/${cid}/rootfs`;
  }

  /** Guest path of a container's shared rootfs. */
  rootfsGuest(cid: string): string {
    checkId(cid);
    return `${GUEST_SHARED_DIR}/${cid}/rootfs`;
  }

  /** Guest mount point of a container's block-device rootfs. */
  blockRootfsGuest(cid: string): string {
    checkId(cid);
    return `${GUEST_CONTAINER_DIR}/${cid}/rootfs`;
  }

  /** The name (one path component) under the shared dir for a volume of `cid` from `source`. */
  volumeName(cid: string, source: string): string {
    checkId(cid);
    const hex = Array.from(
      crypto.getRandomValues(new Uint8Array(8)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    const base = source.split("/").filter(Boolean).pop() ?? "root";
    return `${cid}-${hex}-${base.replace(/[^A-Za-z0-9_.-]/g, "_")}`;
  }

  /** Host path of a shared volume name. */
  volumeHost(name: string): string {
    return `${this.hostDir}/${name}`;
  }

  /** Guest path of a shared volume name. */
  volumeGuest(name: string): string {
    return `${GUEST_SHARED_DIR}/${name}`;
  }
}
