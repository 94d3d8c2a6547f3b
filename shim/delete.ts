/**
 * Placeholder until this action is implemented.
 * @module
 */
import { UnimplementedError } from "../common/errors.ts";

/** Not supported yet: fails with a clear error. */
export function deleteCommand(_inv: unknown): Promise<number> {
  return Promise.reject(new UnimplementedError("delete is not supported yet"));
}
