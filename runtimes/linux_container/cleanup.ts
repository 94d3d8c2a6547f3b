/**
 * Clean-up of a Linux container whose shim is gone (`shim delete`): from
 * its `state.json`, kill and delete it through the OCI runtime, unmount the
 * rootfs and remove the state directory. Safe to run twice.
 * @module
 */
import { OciRuntime } from "./oci_runtime.ts";
import { unmountRootfs } from "./rootfs.ts";
import { readState } from "./state.ts";

const SIGKILL = 9;

/** Undoes everything the LinuxContainer runtime made for container `id`. */
export async function cleanupLinuxContainer(
  dir: string,
  id: string,
  bundle: string,
): Promise<void> {
  const state = readState(dir);
  if (state) {
    const runtime = new OciRuntime(state.runtime, state.runtimeRoot, `${dir}/runtime.log`);
    await runtime.kill(id, SIGKILL, true).catch(() => {});
    await runtime.delete(id, true);
  }
  unmountRootfs(state?.bundle ?? bundle);
  await Deno.remove(dir, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
}
