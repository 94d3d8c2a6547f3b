/**
 * Where an OCI runtime hands a process's terminal over (`--console-socket`).
 * @module
 */
import { sha256Hex } from "./sha256.ts";

/**
 * The console socket for process `key` (unique among the sockets of `dir`,
 * e.g. `<container>/exec-<id>`), in `dir`: a hash of the key, so the path is
 * short whatever the ids. A Unix socket path holds at most 107 bytes and
 * CRI's container and exec ids are 64 characters each (`kubectl exec -it`
 * into a pod once put both in one path); `dir` must leave 22 bytes of room.
 */
export function consoleSocketPath(dir: string, key: string): string {
  return `${dir}/${sha256Hex(key).slice(0, 16)}.sock`;
}
