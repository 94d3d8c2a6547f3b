/**
 * The management socket of a sandbox without a VM (the LinuxContainer
 * runtime): `/metrics` holds the shim's own families; there is no agent, so
 * `/agent-url` answers 404 and the direct-volume routes 501.
 * @module
 */
import { NotFoundError, UnimplementedError } from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import { collectSandboxMetrics, EventLoopLag } from "./sandbox_metrics.ts";
import { type MonitorServer, monitorSocketPath, startMonitorServer } from "./server.ts";

const log = getLogger("runtimes.monitor");

/**
 * Serves `<dir>/shim-monitor.sock` for sandbox `id`; undefined (with a
 * warning) when it cannot: the socket is for operators, the container runs
 * without it.
 */
export function startHostMonitor(dir: string, id: string): MonitorServer | undefined {
  const lag = new EventLoopLag();
  try {
    const server = startMonitorServer(monitorSocketPath(dir), {
      metrics: () =>
        collectSandboxMetrics({ sandboxId: id, hypervisorName: "", vmmPids: () => [], lag }),
      agentUrl: () => {
        throw new NotFoundError(`Sandbox ${id} runs without a VM: it has no agent`);
      },
      volumeStats: () =>
        Promise.reject(
          new UnimplementedError(`Sandbox ${id} runs without a VM: no direct volumes`),
        ),
      resizeVolume: () =>
        Promise.reject(
          new UnimplementedError(`Sandbox ${id} runs without a VM: no direct volumes`),
        ),
    });
    return {
      path: server.path,
      close: async () => {
        lag.stop();
        await server.close();
      },
    };
  } catch (e) {
    lag.stop();
    log.warn("sandbox {id}: no management socket: {e}", { id, e: String(e) });
    return undefined;
  }
}
