/**
 * Placeholder until this action is implemented.
 * @module
 */
import { UnimplementedError } from "../common/errors.ts";

/** Not supported yet: fails with a clear error. */
export function info(_inv: unknown): Promise<number> {
  return Promise.reject(new UnimplementedError("-info is not supported yet"));
}
