/**
 * The on-disk record of a Linux container (`<stateRoot>/<id>/state.json`),
 * enough for `shim delete` to clean up after a shim that died.
 * @module
 */

/** What `shim delete` needs to undo a Linux container. */
export interface LinuxContainerState {
  kind: "linux_container";
  id: string;
  bundle: string;
  /** The OCI runtime binary. */
  runtime: string;
  /** The OCI runtime's `--root`. */
  runtimeRoot: string;
  /** Whether the rootfs mounts were mounted by us. */
  rootfsMounted: boolean;
}

/** Writes `state.json` atomically (write then rename). */
export function writeState(dir: string, state: LinuxContainerState): void {
  const tmp = `${dir}/state.json.tmp`;
  Deno.writeTextFileSync(tmp, JSON.stringify(state, null, 2));
  Deno.renameSync(tmp, `${dir}/state.json`);
}

/** Reads `state.json`, or undefined when there is none. */
export function readState(dir: string): LinuxContainerState | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`${dir}/state.json`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  const s = JSON.parse(text) as Partial<LinuxContainerState>;
  if (s.kind !== "linux_container" || !s.id || !s.runtime || !s.runtimeRoot) {
    throw new Error(`${dir}/state.json: not a linux_container state record`);
  }
  return s as LinuxContainerState;
}
