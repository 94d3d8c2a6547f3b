/**
 * The runtimes' entry for the layers above: builds the {@link RuntimeHandler}
 * that a configuration's `[runtime] name` selects (with the agent client a VM
 * sandbox needs), and picks the crash clean-up of a sandbox whose shim is
 * gone from its recorded runtime. `service/` sees only the handler interface
 * and `shim/` only calls this file. Each runtime's code is loaded on first
 * use, so a `linux_container` shim never loads the VM runtime.
 * @module
 */
import { ConfigError, UnimplementedError } from "../common/errors.ts";
import { getLogger } from "../common/log.ts";
import type { EventSink, RuntimeHandler } from "./handler.ts";
import type { Reaper } from "./reaper.ts";

const log = getLogger("runtimes.manager");

/** Creates the runtime handler the configuration at `configPath` (default lookup: none) selects. */
export type HandlerFactory = (configPath: string | undefined) => Promise<RuntimeHandler>;

/** What a handler needs from the shim around it. */
export interface HandlerDeps {
  /** Reaps the shim's child processes (the host runtime's OCI runtime and containers). */
  reaper: Reaper;
  /** Receives the handler's task events in order. */
  events: EventSink;
}

/** Loads the configuration and builds the handler of its `[runtime] name`. */
export function handlerFactory(deps: HandlerDeps): HandlerFactory {
  return async (configPath) => {
    const { loadConfig } = await import("../config/mod.ts");
    const loaded = await loadConfig({ path: configPath });
    if (loaded.runtimeName === "linux_container") {
      const { LinuxContainerHandler } = await import("./linux_container/handler.ts");
      const oci = loaded.ociRuntime;
      if (!oci?.path) {
        throw new ConfigError(
          `${loaded.file}: [linux_container] oci_runtime ${
            JSON.stringify(oci?.name ?? "")
          } is not an executable on PATH`,
        );
      }
      return new LinuxContainerHandler({
        runtime: oci.path,
        runtimeRoot: oci.root,
        reaper: deps.reaper,
        events: deps.events,
      });
    }
    if (loaded.runtimeName === "virt_container") {
      const [{ VirtContainerHandler }, { kataAgent }, { agentSocketUrl }] = await Promise.all([
        import("./virt_container/handler.ts"),
        import("../agent/kata_agent.ts"),
        import("../hypervisor/hypervisor.ts"),
      ]);
      return new VirtContainerHandler({
        config: loaded,
        events: deps.events,
        dialAgent: (socket, t) =>
          Promise.resolve(kataAgent(agentSocketUrl(socket), {
            dialRetryIntervalMs: t.dialTimeoutMs,
            reconnectTimeoutMs: t.reconnectTimeoutMs,
            requestTimeoutMs: t.requestTimeoutMs,
            domainErrors: true,
          })),
        reloadWithAnnotations: (annotations) => loadConfig({ path: configPath, annotations }),
      });
    }
    throw new UnimplementedError(
      `Runtime ${
        JSON.stringify(loaded.runtimeName)
      } of ${loaded.file} is not supported by this shim yet`,
    );
  };
}

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
  let recorded = true;
  try {
    Deno.statSync(`${root}/${id}/state.json`);
  } catch {
    recorded = false;
  }
  if (!recorded) {
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
      log.warn(
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
