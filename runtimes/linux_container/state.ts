/**
 * A Linux container's record in the shared persisted state
 * (`<root>/<id>/state.json`, `persist/`'s format with runtime
 * `linux_container`): enough for `shim delete` to clean up after a shim that
 * died. Each Linux container is its own record.
 * @module
 */
import { FailedPreconditionError, NotFoundError } from "../../common/errors.ts";
import type { SandboxState, StateStore } from "../../persist/mod.ts";

/** The persisted `runtime` of a Linux container. */
const RUNTIME_KIND = "linux_container";

/** What `shim delete` needs to undo a Linux container. */
export interface LinuxContainerState {
  id: string;
  bundle: string;
  /** The OCI runtime binary. */
  runtime: string;
  /** The OCI runtime's `--root`. */
  runtimeRoot: string;
  /** Whether the rootfs mounts were mounted by us. */
  rootfsMounted: boolean;
  /** The init pid (0 before create finished). */
  pid: number;
}

/** Writes the record (atomically, through the state store). */
export async function writeState(store: StateStore, s: LinuxContainerState): Promise<void> {
  await store.save({
    sandbox_id: s.id,
    runtime: RUNTIME_KIND,
    containers: [{
      id: s.id,
      bundle: s.bundle,
      pid: s.pid || null,
      extra: {
        ociRuntime: s.runtime,
        ociRuntimeRoot: s.runtimeRoot,
        rootfsMounted: s.rootfsMounted,
      },
    }],
  });
}

/** Reads the record back from a loaded state; throws when it is not a Linux container's. */
export function fromSandboxState(state: SandboxState): LinuxContainerState {
  const c = state.containers[0];
  const extra = (c?.extra ?? {}) as Record<string, unknown>;
  if (
    state.runtime !== RUNTIME_KIND || !c || typeof extra.ociRuntime !== "string" ||
    typeof extra.ociRuntimeRoot !== "string"
  ) {
    throw new FailedPreconditionError(
      `State of ${state.sandbox_id} is not a linux_container record`,
    );
  }
  return {
    id: c.id,
    bundle: c.bundle,
    runtime: extra.ociRuntime,
    runtimeRoot: extra.ociRuntimeRoot,
    rootfsMounted: extra.rootfsMounted === true,
    pid: c.pid ?? 0,
  };
}

/** Loads the record of `id`, or undefined when there is none. */
export async function readState(
  store: StateStore,
  id: string,
): Promise<LinuxContainerState | undefined> {
  try {
    return fromSandboxState(await store.load(id));
  } catch (e) {
    if (e instanceof NotFoundError) return undefined;
    throw e;
  }
}
