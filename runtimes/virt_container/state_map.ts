/**
 * Maps the VirtContainer runtime's containers and processes to the persisted
 * sandbox state (`persist/state.ts`), which `shim delete` and restarts read.
 * @module
 */
import type { ContainerState } from "../../persist/state.ts";
import type { VirtContainer, VirtProcess } from "./container.ts";

/** The persisted status of a process (a deleted one is saved as stopped). */
function processStatus(p: VirtProcess): ContainerState["status"] {
  return p.lifecycle.state === "deleted" ? "stopped" : p.lifecycle.state;
}

/** The persisted states of `containers`. */
export function containerStates(containers: Iterable<VirtContainer>): ContainerState[] {
  return [...containers].map((c) => ({
    id: c.id,
    bundle: c.bundle,
    pid: c.init.pid || null,
    status: processStatus(c.init),
    exit_status: c.init.exit?.exitStatus ?? null,
    execs: [...c.execs.values()].map((e) => ({
      id: e.execId,
      pid: e.pid || null,
      status: processStatus(e),
      exit_status: e.exit?.exitStatus ?? null,
      extra: {},
    })),
    created_at: new Date().toISOString(),
    extra: {
      rootfs: { guest_path: c.rootfs.guestPath, host_path: c.rootfs.hostPath ?? null },
      sandbox_container: c.isSandbox,
    },
  }));
}
