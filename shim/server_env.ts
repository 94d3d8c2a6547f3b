/**
 * What `start` hands the server it spawns besides its flags: environment
 * variable names and the temporary socket name. A module of its own so that
 * the server loads it (and binds its socket) before anything else.
 * @module
 */

/** Environment variable naming the inherited readiness pipe the server signals. */
export const READY_FD_ENV = "KATA_SHIM_READY_FD";

/**
 * Environment variable carrying the configuration path of containerd's
 * runtime options to the server, for a pod of the Sandbox API: its
 * CreateSandbox brings CRI's pod configuration, not the runtime options,
 * which containerd hands to `start` alone.
 */
export const CONFIG_PATH_ENV = "KATA_SHIM_CONFIG_PATH";

/** The name the server binds before renaming the socket onto `path`. */
export function bindingPath(path: string, serverPid: number): string {
  return `${path}.${serverPid}`;
}
