/**
 * Placeholder until this action is implemented.
 * @module
 */
import { UnimplementedError } from "../common/errors.ts";

/** Not supported yet: fails with a clear error. */
export function serve(_inv: unknown): Promise<number> {
  return Promise.reject(new UnimplementedError("serving the task API is not supported yet"));
}
