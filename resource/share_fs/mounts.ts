/**
 * Mount bookkeeping for shared directories: which mount points lie under a
 * directory (from /proc/self/mountinfo), unmounting them deepest first, and
 * removing a directory tree only once nothing is mounted in it, so a cleanup
 * never deletes a container's files through a forgotten mount.
 * @module
 */
import { isMountPoint, MNT_DETACH, unmount } from "../../ffi/mount.ts";

// The one mount-aware recursive removal lives in persist/ (every layer uses it).
export { mountsOfDevice, mountsUnder, removeTreeSafely } from "../../persist/remove_tree.ts";

/**
 * Unmounts everything stacked on `target` (lazily when busy). Callers follow
 * it only with non-recursive removals (rmdir, unlink of the mount point), which
 * fail rather than delete through anything still attached; a lazy detach lets a
 * container go while the VM's file server still holds its mount, and the data
 * stays out of reach of any removal. Recursive removal uses removeTreeSafely,
 * which never detaches lazily.
 */
export function unmountAll(target: string): void {
  for (let i = 0; i < 32 && isMountPoint(target); i++) {
    try {
      unmount(target);
    } catch {
      unmount(target, MNT_DETACH);
    }
  }
}

/** Removes `dir` and its now-empty parents up to (not including) `stop`; ignores non-empty ones. */
export function removeEmptyDirs(dir: string, stop: string): void {
  let d = dir;
  while (d.startsWith(stop + "/") && d !== stop) {
    try {
      Deno.removeSync(d);
    } catch {
      return;
    }
    d = d.slice(0, d.lastIndexOf("/"));
  }
}
