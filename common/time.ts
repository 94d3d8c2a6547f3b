/**
 * Waiting with a bound: the one place a promise is raced against a timer, so
 * no caller forgets to clear it.
 * @module
 */

/**
 * The value of `p` if it settles within `ms`, else undefined (a rejection of
 * `p` before then propagates); the timer never outlives the wait.
 */
export function valueWithin<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)));
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/**
 * Resolves when `p` settles or after `ms`, whichever comes first (a
 * rejection of `p` before then propagates); the timer never outlives it.
 */
export async function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  await valueWithin(p, ms);
}
