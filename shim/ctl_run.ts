/**
 * Placeholder until this action is implemented.
 * @module
 */
import { UnimplementedError } from "../common/errors.ts";

/** Not supported yet: fails with a clear error. */
export function ctlRun(_args: string[]): Promise<number> {
  return Promise.reject(new UnimplementedError("shim-ctl run is not supported yet"));
}
