/**
 * Placeholder until `env` and `check` are implemented.
 * @module
 */
import { UnimplementedError } from "../common/errors.ts";

/** Not supported yet: fails with a clear error. */
export function envCommand(_args: string[]): Promise<number> {
  return Promise.reject(new UnimplementedError("env is not supported yet"));
}

/** Not supported yet: fails with a clear error. */
export function checkCommand(_args: string[]): Promise<number> {
  return Promise.reject(new UnimplementedError("check is not supported yet"));
}
