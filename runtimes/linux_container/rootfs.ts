/**
 * The container rootfs containerd describes as mounts: mounted on
 * `<bundle>/rootfs` before the OCI runtime sees the bundle, unmounted on
 * delete (also by `shim delete` after a crash).
 * @module
 */
import { isMountPoint, MNT_DETACH, mount, unmount } from "../../ffi/mount.ts";
import type { MountSpec } from "../handler.ts";

/** Mounts `mounts` in order on `<bundle>/rootfs`; returns whether anything was mounted. */
export function mountRootfs(bundle: string, mounts: readonly MountSpec[]): boolean {
  if (mounts.length === 0) return false;
  const target = `${bundle}/rootfs`;
  Deno.mkdirSync(target, { recursive: true });
  let done = 0;
  try {
    for (const m of mounts) {
      mount(m.source, target, m.type, m.options);
      done++;
    }
  } catch (e) {
    for (let i = 0; i < done; i++) unmountRootfs(bundle);
    throw e;
  }
  return true;
}

/** Unmounts everything stacked on `<bundle>/rootfs` (lazily if busy); a no-op when nothing is. */
export function unmountRootfs(bundle: string): void {
  const target = `${bundle}/rootfs`;
  for (let i = 0; i < 16 && isMountPoint(target); i++) {
    try {
      unmount(target);
    } catch {
      unmount(target, MNT_DETACH);
    }
  }
}
