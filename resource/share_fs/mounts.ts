/**
 * Mount bookkeeping for shared directories: which mount points lie under a
 * directory (from /proc/self/mountinfo), unmounting them deepest first, and
 * removing a directory tree only once nothing is mounted in it, so a cleanup
 * never deletes a container's files through a forgotten mount.
 * @module
 */
import { FailedPreconditionError } from "../../common/errors.ts";
import { isMountPoint, MNT_DETACH, unmount } from "../../ffi/mount.ts";

/** Decodes the octal escapes mountinfo uses for spaces and the like. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points at or under `dir`, deepest first. */
export function mountsUnder(dir: string, mountinfo?: string): string[] {
  const text = mountinfo ?? Deno.readTextFileSync("/proc/self/mountinfo");
  const base = dir.replace(/\/+$/, "");
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    if (f.length < 5) continue;
    const mp = unescape(f[4]);
    if (mp === base || mp.startsWith(base + "/")) out.push(mp);
  }
  return [...new Set(out)].sort((a, b) => b.length - a.length);
}

/** Unmounts everything stacked on `target` (lazily when busy). */
export function unmountAll(target: string): void {
  for (let i = 0; i < 32 && isMountPoint(target); i++) {
    try {
      unmount(target);
    } catch {
      unmount(target, MNT_DETACH);
    }
  }
}

/**
 * Unmounts every mount under `dir`, then removes the tree. Refuses (and
 * removes nothing) when a mount is still there afterwards.
 */
export function removeTreeSafely(dir: string): void {
  for (const mp of mountsUnder(dir)) unmountAll(mp);
  const left = mountsUnder(dir);
  if (left.length > 0) {
    throw new FailedPreconditionError(
      `Cannot remove ${dir}: ${left[0]} is still mounted`,
    );
  }
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
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
