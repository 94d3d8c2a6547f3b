/**
 * Cleans up after a VM from its saved state alone, for when the driver
 * object is gone (`shim delete` after a crashed shim, or a restarted shim):
 * kills the VMM only when its recorded identity (pid + start time +
 * executable) still matches, then removes the files and jail mounts the
 * driver listed as its own, through the mount-aware removal (unmount, prove,
 * remove; nothing removed while a mount stays). An in-process VMM (the
 * built-in one) records no VMM pid: the shim was the VMM, and a dead shim
 * left nothing to kill.
 * @module
 */
import { FailedPreconditionError } from "../common/errors.ts";
import { getLogger } from "../common/log.ts";
import {
  isSameProcess,
  killIdentified,
  type ProcessIdentity,
  processStartTime,
} from "../persist/process_identity.ts";
import { removeTreeSafely } from "../persist/remove_tree.ts";
import type { HypervisorState } from "./hypervisor.ts";

export { processStartTime };

const log = getLogger("hypervisor.cleanup");

/**
 * The recorded identity of the VMM in `state`, or null when the state does
 * not prove one (no pid, or a pid without start time and executable: older
 * files and the built-in VMM).
 */
export function vmmIdentity(state: HypervisorState): ProcessIdentity | null {
  const { pid, pid_start: start, pid_exe: exe } = state;
  if (typeof pid !== "number" || !Number.isInteger(pid) || pid <= 1) return null;
  if (typeof start !== "string" || !/^\d+$/.test(start)) return null;
  if (typeof exe !== "string" || !exe.startsWith("/")) return null;
  return { pid, start_time: start, exe };
}

/**
 * Whether process `pid` is still the VMM described by `state`: pid, start
 * time and executable all match what the driver recorded, and it has not
 * exited. A state that records no full identity never matches.
 */
export function isSameVmm(pid: number, state: HypervisorState): Promise<boolean> {
  const id = vmmIdentity(state);
  return Promise.resolve(id !== null && id.pid === pid && isSameProcess(id));
}

/** Every path in `v` that is an absolute path string (state.json is untrusted input). */
function paths(v: unknown): string[] {
  return Array.isArray(v)
    ? v.filter((p): p is string => typeof p === "string" && p.startsWith("/"))
    : [];
}

/**
 * Kills the VMM of `state`, only when its identity is proven (a pid held by
 * any other process is never signalled). Throws when the VMM survives
 * SIGKILL: nothing may be removed then.
 */
export async function killVmmFromState(state: HypervisorState): Promise<void> {
  const id = vmmIdentity(state);
  if (id) {
    const outcome = await killIdentified(id, "SIGKILL", 5000);
    log.info("leftover {type} VMM pid {pid}: {outcome}", {
      type: state.hypervisor_type,
      pid: id.pid,
      outcome,
    });
    if (outcome === "killed" && isSameProcess(id)) {
      throw new FailedPreconditionError(
        `${state.hypervisor_type} VMM pid ${id.pid} still runs after SIGKILL; nothing was removed`,
      );
    }
  } else if (typeof state.pid === "number" && state.pid > 0 && state.pid !== Deno.pid) {
    // Recorded without a full identity: whoever holds that pid now is left alone.
    if (processStartTime(state.pid) !== null) {
      log.warn("pid {pid} recorded for the {type} VMM is not proven to be it; not killed", {
        pid: state.pid,
        type: state.hypervisor_type,
      });
    }
  }
}

/** The paths the driver listed as its own (`owned_paths`, or its run/jail dir in older files). */
export function ownedPaths(state: HypervisorState): string[] {
  return Array.isArray(state.owned_paths)
    ? paths(state.owned_paths)
    : paths([state.jailed ? state.vm_path : state.run_dir]);
}

/**
 * Removes what the driver listed as its own: `owned_paths` through the
 * mount-aware removal (throws naming a mount that stays), then
 * `owned_empty_dirs` when empty. Call after {@link killVmmFromState}.
 */
export async function removeOwnedFromState(state: HypervisorState): Promise<void> {
  for (const path of ownedPaths(state)) removeTreeSafely(path);
  for (const dir of paths(state.owned_empty_dirs)) {
    await Deno.remove(dir).catch(() => {/* not empty: not only ours */});
  }
}

/**
 * Kills the VMM of `state` (only when its identity is proven) and removes
 * what the driver listed as its own ({@link killVmmFromState}, then
 * {@link removeOwnedFromState}). Safe to call twice.
 */
export async function cleanupFromState(state: HypervisorState): Promise<void> {
  await killVmmFromState(state);
  await removeOwnedFromState(state);
}
