/**
 * Clean-up of a VM sandbox whose shim is gone (`shim delete` after a
 * crash, a stale sandbox found at start), from its state.json alone, in the
 * one clean-up order every path uses:
 *
 *  1. the VMM (and a virtiofsd) killed, only if its recorded identity (pid +
 *     start time + executable) still matches; the built-in VMM recorded none
 *     (the dead shim was the VMM);
 *  2. everything mounted under the sandbox directory (and a jail outside it)
 *     unmounted deepest first, and mountinfo read again to prove none is left:
 *     when one stays, the clean-up stops here, removes nothing and names it;
 *  3. the driver's files, the shared directory, the sandbox cgroup, and last
 *     the sandbox directory with state.json.
 *
 * Safe to run twice. Network plumbing lives in the pod netns and goes with
 * it; it is not persisted here.
 * @module
 */
import { FailedPreconditionError } from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import {
  killVmmFromState,
  ownedPaths,
  removeOwnedFromState,
} from "../../hypervisor/cleanup_state.ts";
import type { HypervisorState } from "../../hypervisor/hypervisor.ts";
import type { SandboxState, StateStore } from "../../persist/mod.ts";
import { removeTreeSafely, unmountTree } from "../../persist/remove_tree.ts";
import { removeLostCgroups } from "../../resource/cgroups/lost_cgroup.ts";
import {
  isProcessIdentity,
  killIdentified,
  type ProcessIdentity,
} from "../../persist/process_identity.ts";

const log = getLogger("runtimes.virt_container.cleanup");

/**
 * The shared fs's record in state.json (read back by {@link cleanupVirtSandbox}):
 * its kind, host directory, and the identity of its file server (virtiofsd
 * outlives a killed shim, and is killed later only by this identity).
 */
export function shareFsRecord(s: {
  kind: string;
  layout: { hostDir: string };
  daemonIdentity: { pid: number; startTime: string; exe: string } | null;
}): Record<string, unknown> {
  const d = s.daemonIdentity;
  const daemon: ProcessIdentity | null = d
    ? { pid: d.pid, start_time: d.startTime, exe: d.exe }
    : null;
  return { kind: s.kind, host_dir: s.layout.hostDir, daemon };
}

/** Undoes everything the VirtContainer runtime made for the sandbox in `state`. */
export async function cleanupVirtSandbox(store: StateStore, state: SandboxState): Promise<void> {
  const dir = store.dirOf(state.sandbox_id);
  const hv = state.hypervisor as unknown as HypervisorState | null;
  // 1. The VMM and its file server first: while they run they may hold the shared mounts.
  if (hv) await killVmmFromState(hv);
  const share = state.resources.share_fs as { host_dir?: string; daemon?: unknown } | undefined;
  if (isProcessIdentity(share?.daemon)) {
    const outcome = await killIdentified(share.daemon, "SIGKILL", 5000);
    log.info("leftover file server pid {pid}: {outcome}", { pid: share.daemon.pid, outcome });
  }
  // 2. Unmount and prove, before anything is removed (throws naming a mount that stays).
  unmountTree(dir);
  for (const p of hv ? ownedPaths(hv) : []) unmountTree(p);
  // 3. Files, cgroup, state.
  if (hv) await removeOwnedFromState(hv);
  if (share?.host_dir && share.host_dir.startsWith(dir + "/")) removeTreeSafely(share.host_dir);
  await removeCgroups(state);
  removeTreeSafely(dir);
}

/**
 * Cleans up a stale sandbox of `id` (its shim died and no `shim delete` ran)
 * before a new one takes its place, with {@link cleanupVirtSandbox}. Returns
 * whether there was one. Throws (the new start must be refused) when the
 * state is unreadable or a mount stays.
 */
export async function cleanupStaleSandbox(store: StateStore, id: string): Promise<boolean> {
  if (!(await store.exists(id))) return false;
  const state = await store.load(id);
  if (state.runtime !== "virt_container") {
    throw new FailedPreconditionError(
      `Cannot start sandbox ${id}: a ${state.runtime} sandbox's state is in ${store.dirOf(id)}`,
    );
  }
  log.warn("sandbox {id}: cleaning up the stale sandbox found in its place", { id });
  await cleanupVirtSandbox(store, state);
  return true;
}

async function removeCgroups(state: SandboxState): Promise<void> {
  const cg = state.resources.cgroup as { dirs?: unknown } | undefined;
  await removeLostCgroups(Array.isArray(cg?.dirs) ? cg.dirs : []);
}
