/**
 * Clean-up of a Linux container whose shim is gone (`shim delete`): from
 * its persisted record, kill and delete it through the OCI runtime, unmount
 * the rootfs and remove the state directory; or, for a pod's record, what
 * pod_state.ts undoes. Safe to run twice.
 * @module
 */
import type { SandboxState, StateStore } from "../../persist/mod.ts";
import { OciRuntime } from "./oci_runtime.ts";
import { unmountRootfs } from "./rootfs.ts";
import { fromSandboxState } from "./state.ts";
import { removeTreeSafely } from "../../persist/remove_tree.ts";
import { cleanupLinuxPod, podStateOf } from "./pod_state.ts";

const SIGKILL = 9;

/** Undoes everything the LinuxContainer runtime made for the container in `state`. */
export async function cleanupLinuxContainer(store: StateStore, state: SandboxState): Promise<void> {
  // A pod of the Sandbox API: its namespace holder and shared files.
  const pod = podStateOf(state);
  if (pod) return await cleanupLinuxPod(store, pod);
  const s = fromSandboxState(state);
  const dir = store.dirOf(s.id);
  const runtime = new OciRuntime(s.runtime, s.runtimeRoot, `${dir}/runtime.log`);
  await runtime.kill(s.id, SIGKILL, true).catch(() => {});
  await runtime.delete(s.id, true);
  if (s.rootfsMounted) unmountRootfs(s.bundle);
  // Mount-aware: nothing below is removed while something stays mounted.
  removeTreeSafely(dir);
}
