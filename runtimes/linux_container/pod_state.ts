/**
 * A linux-container pod's record (Sandbox API) in the shared persisted state
 * (`<root>/<pod id>/state.json`, runtime `linux_container`, no containers,
 * the pod in `resources.pod`): the namespace holder's identity, so that
 * `shim delete` after a lost shim kills exactly that holder, then unmounts
 * (the pod's /dev/shm) and removes the pod's files.
 * @module
 */
import { FailedPreconditionError } from "../../common/errors.ts";
import {
  isProcessIdentity,
  isSameProcess,
  killIdentified,
  type ProcessIdentity,
} from "../../persist/process_identity.ts";
import type { SandboxState, StateStore } from "../../persist/mod.ts";
import { removeTreeSafely } from "../../persist/remove_tree.ts";

/** What `shim delete` needs to undo a pod. */
export interface LinuxPodState {
  id: string;
  /** The namespace holder; null before it was spawned. */
  holder: ProcessIdentity | null;
}

/** Writes the record (atomically, through the state store). */
export async function writePodState(store: StateStore, s: LinuxPodState): Promise<void> {
  await store.save({
    sandbox_id: s.id,
    runtime: "linux_container",
    containers: [],
    resources: { pod: { holder: s.holder } },
  });
}

/** The pod record in `state`, or undefined when it is a container's record. */
export function podStateOf(state: SandboxState): LinuxPodState | undefined {
  const pod = state.resources.pod;
  if (pod === undefined) return undefined;
  if (pod.holder != null && !isProcessIdentity(pod.holder)) {
    throw new FailedPreconditionError(
      `State of pod ${state.sandbox_id} records a malformed holder: ${JSON.stringify(pod.holder)}`,
    );
  }
  return { id: state.sandbox_id, holder: (pod.holder ?? null) as ProcessIdentity | null };
}

/**
 * Undoes a pod: kills its holder (only the process the record identifies),
 * then unmounts and removes its directory, refusing to remove anything while
 * a mount stays. Safe to run twice.
 */
export async function cleanupLinuxPod(store: StateStore, s: LinuxPodState): Promise<void> {
  if (s.holder) {
    const outcome = await killIdentified(s.holder, "SIGKILL");
    if (outcome === "killed" && isSameProcess(s.holder)) {
      throw new FailedPreconditionError(
        `Cannot clean up pod ${s.id}: its namespace holder (pid ${s.holder.pid}) survived SIGKILL`,
      );
    }
  }
  removeTreeSafely(store.dirOf(s.id));
}
