/**
 * What a 9p operation works on: the shared root, the session's fids and the
 * negotiated message size; and the shape of an operation.
 * @module
 */
import type { FidTable, ShareRoot } from "./fids.ts";
import type { Reader, Writer } from "./wire.ts";

/** Largest message size the server agrees to. */
export const MAX_MSIZE = 512 * 1024;

/** One client's session with the server. */
export interface Session {
  readonly root: ShareRoot;
  readonly fids: FidTable;
  /** The negotiated message size. */
  msize: number;
}

/**
 * Serves one request: reads its body from `r`, writes the reply body into
 * `w` (already headed with the reply type and tag) and returns the reply;
 * `maxReply` is the room the driver gave for it. Failures throw a P9Error.
 */
export type Operation = (s: Session, r: Reader, w: Writer, maxReply: number) => Uint8Array;
