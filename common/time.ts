/**
 * Waiting with a bound.
 * @module
 */

/**
 * Resolves when `p` settles or after `ms`, whichever comes first (a
 * rejection of `p` before then propagates); the timer never outlives it.
 */
export function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<void>((r) => (timer = setTimeout(r, ms)));
  return Promise.race([p.then(() => {}), limit]).finally(() => clearTimeout(timer));
}
