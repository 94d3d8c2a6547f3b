/**
 * `shim delete`'s clean-up of a sandbox whose shim is gone, picked from the
 * runtime its state records. Apart from manager.ts, so that the common case
 * (a normal Delete left nothing) loads no more than the unmount and the
 * removal: not the logger nor the state code, about 100 KB of bundle on
 * containerd's critical path.
 * @module
 */
import { UnimplementedError } from "../common/errors.ts";
import { exists } from "../common/fs.ts";

/** Whether a VM sandbox's state says `keep_abnormal` (see {@link cleanupLostSandbox}). */
function keptAbnormal(
  state: { resources: Record<string, Record<string, unknown>> },
): boolean {
  return state.resources.debug?.keep_abnormal === true;
}

/**
 * Cleans up after the lost shim of sandbox `id` (`shim delete`): from its
 * state.json under `root` with the clean-up of the runtime recorded there;
 * without one (nothing recorded, or a normal Delete ran already) the
 * bundle's rootfs is unmounted and the sandbox directory removed, never
 * through a mount. A VM sandbox created with `[runtime] keep_abnormal = true`
 * is left as it is, for debugging (upstream's meaning); a new sandbox of the
 * same id still cleans it up first.
 */
export async function cleanupLostSandbox(id: string, bundle: string, root: string): Promise<void> {
  // After a normal Delete rpc nothing is left: skip loading the state code then.
  if (!exists(`${root}/${id}/state.json`)) {
    const { unmountRootfs } = await import("./linux_container/rootfs.ts");
    unmountRootfs(bundle);
    // Unmounts first and refuses while anything stays mounted: a rootfs
    // left mounted below is never deleted through.
    const { removeTreeSafely } = await import("../persist/remove_tree.ts");
    removeTreeSafely(`${root}/${id}`);
    return;
  }
  const { StateStore } = await import("../persist/mod.ts");
  const store = new StateStore({ root });
  const state = await store.load(id);
  if (state.runtime === "linux_container") {
    const { cleanupLinuxContainer } = await import("./linux_container/cleanup.ts");
    await cleanupLinuxContainer(store, state);
    return;
  }
  if (state.runtime === "virt_container") {
    if (keptAbnormal(state)) {
      const { getLogger } = await import("../common/log.ts");
      getLogger("runtimes.lost_sandbox").warn(
        "sandbox {id}: keep_abnormal is set in its configuration: its VMM, mounts and {dir} are " +
          "kept for debugging, not cleaned up (state {state})",
        { id, dir: store.dirOf(id), state: store.pathOf(id) },
      );
      return;
    }
    const { cleanupVirtSandbox } = await import("./virt_container/cleanup.ts");
    await cleanupVirtSandbox(store, state);
    return;
  }
  throw new UnimplementedError(
    `Cleaning up a ${state.runtime} sandbox after its shim was lost is not supported; ` +
      `its state stays in ${store.dirOf(id)}`,
  );
}
