/**
 * The one mount-aware removal of a directory tree that can hold a mount
 * (the sandbox directory `/run/kata/<id>`, its shared directory, a VMM's run
 * directory, a jail): every mount below it is unmounted deepest first with a
 * plain umount2(2), /proc/self/mountinfo is read again to prove nothing is
 * left, and only then is the tree removed, by a walk that never crosses a
 * file-system boundary (each entry's device is compared with the root's).
 * When something stays mounted nothing at all is removed and the error names
 * the mount: a busy bind mount of a host directory must never be deleted
 * through.
 *
 * It lives in `persist/` because every layer that removes such a directory
 * (hypervisor drivers, resources, runtimes, `shim delete`) may import it
 * there, and persist owns the sandbox directory layout.
 *
 * MNT_DETACH is deliberately not used: a lazy unmount "succeeds" while the
 * mount is still in use, so the caller could not prove that the data is out
 * of reach before deleting, and a process still using it would keep it alive
 * unseen. A busy mount is reported instead.
 * @module
 */
import { FailedPreconditionError } from "../common/errors.ts";
import { unmount } from "../ffi/mount.ts";
import { E, SysError } from "../ffi/errno.ts";

/** Tries of a busy unmount (a VMM or file server that was just killed may still be exiting). */
const BUSY_TRIES = 5;
const BUSY_WAIT_MS = 40;

/** Decodes the octal escapes mountinfo uses for spaces and the like. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

/** The canonical path of `dir` (symlinks resolved) when it exists, else `dir` without trailing slashes. */
function canonical(dir: string): string {
  const base = dir.replace(/\/+$/, "") || "/";
  try {
    return Deno.realPathSync(base);
  } catch {
    return base;
  }
}

/** Mount points at or under `dir` (by mountinfo, or `mountinfo` when given), deepest first. */
export function mountsUnder(dir: string, mountinfo?: string): string[] {
  const text = mountinfo ?? Deno.readTextFileSync("/proc/self/mountinfo");
  const base = mountinfo === undefined ? canonical(dir) : dir.replace(/\/+$/, "");
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    if (f.length < 5) continue;
    const mp = unescape(f[4]);
    if (mp === base || mp.startsWith(base + "/")) out.push(mp);
  }
  return [...new Set(out)].sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
}

/**
 * Mount points of the block device `majorMinor` (`"7:3"`, mountinfo's third
 * field), by mountinfo (or `mountinfo` when given).
 */
export function mountsOfDevice(majorMinor: string, mountinfo?: string): string[] {
  const text = mountinfo ?? Deno.readTextFileSync("/proc/self/mountinfo");
  return text.split("\n").map((l) => l.split(" "))
    .filter((f) => f.length >= 5 && f[2] === majorMinor).map((f) => unescape(f[4]));
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Unmounts `mp` and whatever is stacked on it with plain umount2(2) calls.
 * Returns why it failed, or null once `mp` is no mount point any more.
 */
function unmountStack(mp: string): string | null {
  let busy = 0;
  for (let i = 0; i < 32; i++) {
    if (!mountsUnder(mp).includes(mp)) return null;
    try {
      unmount(mp);
      busy = 0;
    } catch (e) {
      const code = e instanceof SysError ? e.errno : -1;
      // Gone meanwhile (another cleanup raced us): mountinfo decides below.
      if (code === E.INVAL || code === E.NOENT) continue;
      if (code === E.BUSY && ++busy < BUSY_TRIES) {
        sleepSync(BUSY_WAIT_MS);
        continue;
      }
      return e instanceof Error ? e.message : String(e);
    }
  }
  return mountsUnder(mp).includes(mp) ? "still mounted after 32 unmounts" : null;
}

/**
 * Unmounts every mount at or under `dir`, deepest first, and proves through
 * mountinfo that none is left. Throws a {@link FailedPreconditionError}
 * naming the first mount still there (and why its unmount failed).
 */
export function unmountTree(dir: string): void {
  const why = new Map<string, string>();
  for (const mp of mountsUnder(dir)) {
    const err = unmountStack(mp);
    if (err) why.set(mp, err);
  }
  const left = mountsUnder(dir);
  if (left.length > 0) {
    const mp = left[left.length - 1];
    const reason = why.get(mp) ?? [...why.values()][0] ?? "it is still listed in mountinfo";
    throw new FailedPreconditionError(
      `Cannot remove ${dir}: ${mp} is still mounted (${reason}); nothing was removed`,
    );
  }
}

/** Lists the tree below `dir` (children before their parent), refusing any entry on another device. */
function collect(dir: string, dev: number, out: { path: string; dir: boolean }[]): void {
  for (const e of Deno.readDirSync(dir)) {
    const path = `${dir}/${e.name}`;
    const st = Deno.lstatSync(path);
    if (st.isDirectory) {
      if (st.dev !== dev) {
        throw new FailedPreconditionError(
          `Cannot remove ${path}: it is on another file system (device ${st.dev}, ` +
            `not ${dev}) though no mount is listed there; nothing was removed`,
        );
      }
      collect(path, dev, out);
      out.push({ path, dir: true });
    } else {
      out.push({ path, dir: false });
    }
  }
}

/**
 * Removes `dir` and everything below it, safely: {@link unmountTree} first
 * (nothing is removed when a mount stays), then a walk that stays on the
 * root's device. A missing `dir` is fine; a symlink is removed, never followed.
 */
export function removeTreeSafely(dir: string): void {
  let root: Deno.FileInfo;
  try {
    root = Deno.lstatSync(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (!root.isDirectory) {
    Deno.removeSync(dir);
    return;
  }
  unmountTree(dir);
  // Read the device after the unmounts: `dir` itself may have been a mount point.
  const dev = Deno.lstatSync(dir).dev;
  const entries: { path: string; dir: boolean }[] = [];
  collect(dir, dev, entries);
  for (const e of entries) {
    if (e.dir && Deno.lstatSync(e.path).dev !== dev) {
      throw new FailedPreconditionError(`Cannot remove ${e.path}: a file system appeared there`);
    }
    try {
      Deno.removeSync(e.path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  try {
    Deno.removeSync(dir);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** Async form of {@link removeTreeSafely} for callers in promise chains. */
export function removeTree(dir: string): Promise<void> {
  try {
    removeTreeSafely(dir);
    return Promise.resolve();
  } catch (e) {
    return Promise.reject(e);
  }
}
