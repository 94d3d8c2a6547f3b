/**
 * Placeholder until this action is implemented.
 * @module
 */
import { UnimplementedError } from "../../common/errors.ts";

/** Not supported yet: fails with a clear error. */
export function vmmCommand(_args: string[]): Promise<number> {
  return Promise.reject(new UnimplementedError("vmm is not supported yet"));
}
