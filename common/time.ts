/**
 * Waiting with a bound: the one place a promise is raced against a timer, so
 * no caller forgets to clear it.
 * @module
 */

/**
 * `{ value }` when `p` resolves within `ms`, undefined when the bound passes
 * first (a rejection of `p` before then propagates); the timer never
 * outlives the wait.
 */
export function within<T>(p: Promise<T>, ms: number): Promise<{ value: T } | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)));
  return Promise.race([p.then((value) => ({ value })), limit]).finally(() => clearTimeout(timer));
}

/**
 * Resolves when `p` settles or after `ms`, whichever comes first (a
 * rejection of `p` before then propagates); the timer never outlives it.
 */
export async function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  await within(p, ms);
}
