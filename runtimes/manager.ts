/**
 * The runtimes' entry for the layers above: builds the {@link RuntimeHandler}
 * that a configuration's `[runtime] name` selects (with the agent client a VM
 * sandbox needs). `service/` sees only the handler interface. Each runtime's
 * code is loaded on first use, so a `linux_container` shim never loads the
 * VM runtime. The crash clean-up of a sandbox whose shim is gone (`shim
 * delete`) is lost_sandbox.ts.
 * @module
 */
import { ConfigError, UnimplementedError } from "../common/errors.ts";
import type { EventSink, RuntimeHandler } from "./handler.ts";
import type { Reaper } from "./reaper.ts";
import type { SelfCommand } from "./linux_container/ns_holder.ts";

/** Creates the runtime handler the configuration at `configPath` (default lookup: none) selects. */
export type HandlerFactory = (configPath: string | undefined) => Promise<RuntimeHandler>;

/** What a handler needs from the shim around it. */
interface HandlerDeps {
  /** Reaps the shim's child processes (the host runtime's OCI runtime and containers). */
  reaper: Reaper;
  /** Receives the handler's task events in order. */
  events: EventSink;
  /** How to run the shim's binary (a linux-container pod's namespace holder); none outside a shim. */
  selfCommand?: SelfCommand;
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
        selfCommand: deps.selfCommand,
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

/** A `shim-ctl factory` action. */
export type FactoryAction = "init" | "status" | "destroy";

/**
 * `shim-ctl factory init|status|destroy`: builds, describes or removes the
 * VM template of the configuration at `configPath` (default lookup);
 * returns the line to print.
 */
export async function templateFactory(
  action: FactoryAction,
  configPath: string | undefined,
): Promise<string> {
  const [{ loadConfig }, factory] = await Promise.all([
    import("../config/mod.ts"),
    import("./virt_container/template_factory.ts"),
  ]);
  const loaded = await loadConfig({ path: configPath });
  switch (action) {
    case "init": {
      const [{ kataAgent }, { agentSocketUrl }] = await Promise.all([
        import("../agent/kata_agent.ts"),
        import("../hypervisor/hypervisor.ts"),
      ]);
      return await factory.factoryInit(
        loaded,
        (socket, t) =>
          Promise.resolve(kataAgent(agentSocketUrl(socket), {
            dialRetryIntervalMs: t.dialTimeoutMs,
            reconnectTimeoutMs: t.reconnectTimeoutMs,
            domainErrors: true,
          })),
      );
    }
    case "status":
      return factory.factoryStatus(loaded);
    case "destroy":
      return await factory.factoryDestroy(loaded);
  }
}
