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
