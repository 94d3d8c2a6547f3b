/**
 * Placeholder until this action is implemented.
 * @module
 */
import { UnimplementedError } from "../common/errors.ts";

/** Not supported yet: fails with a clear error. */
export function start(_inv: unknown): Promise<number> {
  return Promise.reject(new UnimplementedError("start is not supported yet"));
}
