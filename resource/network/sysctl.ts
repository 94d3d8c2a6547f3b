/**
 * Network sysctls of one network namespace. `/proc/sys/net` resolves names in
 * the namespace of the calling thread, so each read and write runs (as one
 * synchronous file operation) with the thread inside the target namespace.
 * @module
 */
import { InvalidArgumentError } from "../../common/errors.ts";
import { inNetns } from "../../ffi/netns.ts";

function path(key: string): string {
  if (!/^[a-z0-9_./-]+$/i.test(key) || key.includes("..")) {
    throw new InvalidArgumentError(`Invalid sysctl key ${JSON.stringify(key)}`);
  }
  return `/proc/sys/net/${key}`;
}

/** The value of `net.<key>` (key as a path, e.g. `ipv4/ip_forward`) in `netns`. */
export function readNetSysctl(netns: string, key: string): string {
  return inNetns(netns, () => Deno.readTextFileSync(path(key))).trim();
}

/** Sets `net.<key>` in `netns`. */
export function writeNetSysctl(netns: string, key: string, value: string): void {
  inNetns(netns, () => Deno.writeTextFileSync(path(key), value));
}
