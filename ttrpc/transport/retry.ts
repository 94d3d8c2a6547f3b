/**
 * Bounded retry for dialers: try until success or until the dial timeout,
 * sleeping between attempts. Each attempt gets the time left so that a slow
 * attempt cannot overrun the bound.
 * @module
 */
import { DeadlineExceededError, UnavailableError } from "../../common/errors.ts";
import { within } from "../../common/time.ts";

/** Retry timing of a dialer. */
export interface DialOptions {
  /** Total time allowed for all attempts, in milliseconds. */
  timeoutMs?: number;
  /** Pause between attempts, in milliseconds. */
  retryIntervalMs?: number;
}

/** The result of a retry loop that ran out of time. */
export class DialTimeoutError extends Error {
  /** The peer could not be reached within the dial timeout. */
  readonly code = "Unavailable";
  constructor(readonly lastError: unknown, readonly elapsedMs: number, readonly attempts: number) {
    super(
      `Gave up after ${attempts} attempts in ${Math.round(elapsedMs)} ms: ${
        lastError instanceof Error ? lastError.message : String(lastError)
      }`,
    );
    this.name = "DialTimeoutError";
  }
}

/**
 * Runs `attempt(remainingMs)` until it resolves. An attempt that throws is
 * retried while time remains; one still pending at the deadline is abandoned
 * and its late result released with `release`.
 * @throws {DialTimeoutError} when no attempt succeeded in time
 */
export async function retryUntil<T>(
  attempt: (remainingMs: number) => Promise<T>,
  opts: Required<DialOptions>,
  release: (late: T) => void,
): Promise<T> {
  const start = performance.now();
  let lastError: unknown = new UnavailableError("No attempt made");
  let attempts = 0;
  while (true) {
    const remaining = opts.timeoutMs - (performance.now() - start);
    if (remaining <= 0) break;
    attempts++;
    const pending = attempt(remaining);
    try {
      const result = await within(pending, remaining);
      if (result) return result.value;
      // Too late for us: whatever it still yields is handed back to be closed.
      pending.then(release, () => {});
      lastError = new DeadlineExceededError("Attempt did not finish in time");
      break;
    } catch (err) {
      lastError = err;
    }
    const pause = Math.min(opts.retryIntervalMs, opts.timeoutMs - (performance.now() - start));
    if (pause > 0) await new Promise((r) => setTimeout(r, pause));
  }
  throw new DialTimeoutError(lastError, performance.now() - start, attempts);
}
