/**
 * Clean-up of a VM sandbox whose shim is gone (`shim delete` after a
 * crash), from its state.json alone: the VMM killed (only if that pid is
 * still the same VMM) and its files removed, everything mounted under the
 * shared directory unmounted, the sandbox cgroup removed, and the sandbox
 * directory removed only once nothing is mounted in it. Safe to run twice.
 * Network plumbing lives in the pod netns and goes with it; it is not
 * persisted here.
 * @module
 */
import { getLogger } from "../../common/log.ts";
import { cleanupFromState } from "../../hypervisor/cleanup_state.ts";
import type { HypervisorState } from "../../hypervisor/hypervisor.ts";
import type { SandboxState, StateStore } from "../../persist/mod.ts";
import { removeTreeSafely } from "../../resource/share_fs/mounts.ts";

const log = getLogger("runtimes.virt_container.cleanup");

/** Undoes everything the VirtContainer runtime made for the sandbox in `state`. */
export async function cleanupVirtSandbox(store: StateStore, state: SandboxState): Promise<void> {
  const dir = store.dirOf(state.sandbox_id);
  if (state.hypervisor) await cleanupFromState(state.hypervisor as unknown as HypervisorState);
  const share = state.resources.share_fs as { host_dir?: string } | undefined;
  if (share?.host_dir && share.host_dir.startsWith(dir + "/")) removeTreeSafely(share.host_dir);
  const cg = state.resources.cgroup as { dirs?: string[] } | undefined;
  for (const d of cg?.dirs ?? []) {
    if (!d.startsWith("/sys/fs/cgroup/")) continue;
    const root = d.split("/").slice(0, 5).join("/");
    try {
      for (const pid of Deno.readTextFileSync(`${d}/cgroup.procs`).split("\n").filter(Boolean)) {
        Deno.writeTextFileSync(`${root}/cgroup.procs`, `${pid}\n`);
      }
      Deno.removeSync(d);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        log.warn("cannot remove cgroup {d}: {e}", { d, e: String(e) });
      }
    }
  }
  removeTreeSafely(dir);
}
