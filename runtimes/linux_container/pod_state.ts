/**
 * A linux-container pod's record (Sandbox API) in the shared persisted state
 * (`<root>/<pod id>/state.json`, runtime `linux_container`, no containers of
 * its own, the pod in `resources.pod`): the namespace holder's identity and
 * the ids of the pod's containers (each with its own record), so that `shim
 * delete` of the pod after a lost shim (cleanup.ts) undoes the containers,
 * kills exactly that holder, then unmounts and removes the pod's files.
 * containerd runs `shim delete` for the pod only, not for its containers.
 * @module
 */
import { FailedPreconditionError } from "../../common/errors.ts";
import { isProcessIdentity, type ProcessIdentity } from "../../persist/process_identity.ts";
import type { SandboxState, StateStore } from "../../persist/mod.ts";

/** What `shim delete` needs to undo a pod. */
export interface LinuxPodState {
  id: string;
  /** The namespace holder; null before it was spawned. */
  holder: ProcessIdentity | null;
  /** The pod's containers that may still have a record of their own. */
  containers: string[];
}

/** Writes the record (atomically, through the state store). */
export async function writePodState(store: StateStore, s: LinuxPodState): Promise<void> {
  await store.save({
    sandbox_id: s.id,
    runtime: "linux_container",
    containers: [],
    resources: { pod: { holder: s.holder, containers: s.containers } },
  });
}

/** The pod record in `state`, or undefined when it is a container's record. */
export function podStateOf(state: SandboxState): LinuxPodState | undefined {
  const pod = state.resources.pod;
  if (pod === undefined) return undefined;
  const holder = pod.holder ?? null;
  const containers = pod.containers ?? [];
  if (
    (holder !== null && !isProcessIdentity(holder)) || !Array.isArray(containers) ||
    !containers.every((c) => typeof c === "string" && /^[\w.-]+$/.test(c))
  ) {
    throw new FailedPreconditionError(
      `State of pod ${state.sandbox_id} is malformed: ${JSON.stringify(pod)}`,
    );
  }
  return { id: state.sandbox_id, holder: holder as ProcessIdentity | null, containers };
}
