/**
 * The RPC boundary of the Task service: what a runtime throws becomes the
 * ConnectError the ttRPC server sends, with the status code of ttRPC's one
 * domain-error mapping (`ttrpc/status.ts`).
 * @module
 */
import { ConnectError } from "@connectrpc/connect";
import type { Logger } from "../common/log.ts";
import { statusCodeOf } from "../ttrpc/status.ts";

/** Turns anything a runtime threw into the ConnectError the ttRPC server sends. */
export function toStatusError(e: unknown): ConnectError {
  if (e instanceof ConnectError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new ConnectError(msg, statusCodeOf(e), undefined, undefined, e);
}

/**
 * Wraps one RPC's implementation for the boundary: with -debug (containerd at
 * debug level) its duration or its failure is logged per call, and whatever
 * it throws leaves as the ConnectError the ttRPC server sends.
 */
export function atBoundary(log: Logger) {
  return <A extends unknown[], R>(name: string, fn: (...a: A) => Promise<R>) =>
  async (...a: A): Promise<R> => {
    const t0 = performance.now();
    try {
      const r = await fn(...a);
      log.debug("{method} took {ms} ms", {
        method: name,
        ms: Math.round((performance.now() - t0) * 10) / 10,
      });
      return r;
    } catch (e) {
      log.debug("{method} failed: {error}", { method: name, error: String(e) });
      throw toStatusError(e);
    }
  };
}
