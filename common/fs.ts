/**
 * Small file-system questions asked across the tree.
 * @module
 */

/** Whether `path` exists (following links); any stat failure counts as absent. */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether `path` is a block device (following links); any stat failure counts as not. */
export function isBlockDevice(path: string): boolean {
  try {
    return Deno.statSync(path).isBlockDevice === true;
  } catch {
    return false;
  }
}

/** Linux's major/minor split of a dev_t (glibc's gnu_dev_major/minor). */
export function splitRdev(rdev: number): { major: number; minor: number } {
  const dev = BigInt(rdev);
  // glibc's masks: major in bits 8-19 and 44-63, minor in bits 0-7 and 20-43.
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & 0xffffff00n));
  return { major, minor };
}
