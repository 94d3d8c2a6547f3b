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
import { type LinuxPodState, podStateOf } from "./pod_state.ts";
import {
  isSameProcess,
  killIdentified,
  type ProcessIdentity,
} from "../../persist/process_identity.ts";
import { FailedPreconditionError, NotFoundError } from "../../common/errors.ts";

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

/**
 * Undoes a pod (pod_state.ts): its containers first, then its holder (only
 * the process the record identifies), then its directory, unmounted and
 * verified before anything is removed. Safe to run twice.
 */
async function cleanupLinuxPod(store: StateStore, pod: LinuxPodState): Promise<void> {
  for (const id of pod.containers) {
    let state: SandboxState;
    try {
      state = await store.load(id);
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
      // Deleted normally (nothing there), or lost before its record was written.
      removeTreeSafely(store.dirOf(id));
      continue;
    }
    if (podStateOf(state)) {
      throw new FailedPreconditionError(`State of pod ${pod.id} lists pod ${id} as a container`);
    }
    await cleanupLinuxContainer(store, state);
  }
  if (pod.holder) await killHolder(pod.id, pod.holder);
  removeTreeSafely(store.dirOf(pod.id));
}

async function killHolder(id: string, holder: ProcessIdentity): Promise<void> {
  if ((await killIdentified(holder, "SIGKILL")) === "killed" && isSameProcess(holder)) {
    throw new FailedPreconditionError(
      `Cannot clean up pod ${id}: its namespace holder (pid ${holder.pid}) survived SIGKILL`,
    );
  }
}
