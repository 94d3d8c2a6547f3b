/**
 * Sandbox state on disk: `<root>/<sandbox-id>/state.json`, atomic, versioned,
 * validated on load.
 * @module
 */
export {
  DEFAULT_PERSIST_ROOT,
  PERSIST_ROOT_ENV,
  STATE_FILE,
  StateStore,
  writeAtomic,
} from "./state_store.ts";
export type { StateStoreOptions } from "./state_store.ts";
export {
  containerStateSchema,
  execStateSchema,
  opaqueRecord,
  processStatusSchema,
  sandboxStateSchema,
  STATE_VERSION,
} from "./state.ts";
export type { ContainerState, ExecState, SandboxState, SandboxStateInput } from "./state.ts";
export { mountsUnder, removeTree, removeTreeSafely, unmountTree } from "./remove_tree.ts";
export {
  identify,
  isProcessIdentity,
  isSameProcess,
  killIdentified,
  processStartTime,
} from "./process_identity.ts";
export type { KillOutcome, ProcessIdentity } from "./process_identity.ts";
