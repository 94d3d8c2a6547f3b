/**
 * The RPC boundary of the Task service: what a runtime throws becomes the
 * ConnectError the ttRPC server sends, with the status code of ttRPC's one
 * domain-error mapping (`ttrpc/status.ts`).
 * @module
 */
import { ConnectError } from "@connectrpc/connect";
import { statusCodeOf } from "../ttrpc/status.ts";

/** Turns anything a runtime threw into the ConnectError the ttRPC server sends. */
export function toStatusError(e: unknown): ConnectError {
  if (e instanceof ConnectError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new ConnectError(msg, statusCodeOf(e), undefined, undefined, e);
}
