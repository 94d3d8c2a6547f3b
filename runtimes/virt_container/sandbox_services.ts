/**
 * What runs beside a VM sandbox from boot to its end: the guest log
 * forwarder (the agent's log port, vsock 1025 / hybrid vsock, into the shim's
 * log tagged with the sandbox id) and the management socket
 * `/run/kata/<id>/shim-monitor.sock` (metrics, agent URL, direct volumes).
 * @module
 */
import { FailedPreconditionError } from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import { VolumeUsage_Unit } from "../../agent/gen/csi_pb.ts";
import { forwardAgentLogs, type LogForwarder, sandboxLogSink } from "../../agent/log_forwarder.ts";
import { agentSocketUrl } from "../../hypervisor/hypervisor.ts";
import { readDirectVolume } from "../../resource/volume/direct_volume.ts";
import { collectSandboxMetrics, EventLoopLag } from "../monitor/sandbox_metrics.ts";
import { type MonitorServer, monitorSocketPath, startMonitorServer } from "../monitor/server.ts";
import type { SandboxService, VirtSandbox } from "./sandbox.ts";

const log = getLogger("runtimes.virt_container.services");

/** How long a scrape waits for the agent's GetMetrics. */
const GET_METRICS_TIMEOUT_MS = 5000;

/** Forwards the guest agent's log lines into the shim's log while the sandbox runs. */
export function guestLogService(): SandboxService {
  let fwd: LogForwarder | undefined;
  return {
    name: "guest_logs",
    start(sb: VirtSandbox) {
      fwd = forwardAgentLogs(sb.parts.hypervisor.agentSocket(), sandboxLogSink(sb.id));
    },
    async stop() {
      fwd?.close();
      await fwd?.done;
      fwd = undefined;
    },
  };
}

/** What the management socket needs beyond the sandbox itself. */
interface MonitorServiceOptions {
  hypervisorName: string;
  /** Guest memory in MiB (`default_memory` after sizing). */
  memoryMib?: number;
}

/** Serves `shim-monitor.sock` in the sandbox's state directory while the sandbox runs. */
export function monitorService(o: MonitorServiceOptions): SandboxService {
  let server: MonitorServer | undefined;
  let lag: EventLoopLag | undefined;
  return {
    name: "management_socket",
    start(sb: VirtSandbox) {
      const hv = sb.parts.hypervisor;
      lag = new EventLoopLag();
      const guestPath = async (volumePath: string) => {
        await readDirectVolume(volumePath); // NotFound when it was never added
        const p = sb.directVolumes.guestPathOf(volumePath);
        if (!p) {
          throw new FailedPreconditionError(
            `Direct volume ${volumePath} is not mounted in sandbox ${sb.id}`,
          );
        }
        return p;
      };
      server = startMonitorServer(monitorSocketPath(sb.parts.store.dirOf(sb.id)), {
        metrics: () =>
          collectSandboxMetrics({
            sandboxId: sb.id,
            hypervisorName: o.hypervisorName,
            vmmPids: () => hv.pids(),
            vmmCounters: hv.vmmCounters ? () => hv.vmmCounters!() : undefined,
            guestMemoryBytes: () => o.memoryMib ? o.memoryMib * 1024 * 1024 : undefined,
            guestMetrics: async () =>
              (await sb.agent.getMetrics({}, { timeoutMs: GET_METRICS_TIMEOUT_MS })).metrics,
            lag,
          }),
        agentUrl: () => agentSocketUrl(hv.agentSocket()),
        volumeStats: async (volumePath) => {
          const r = await sb.agent.getVolumeStats({ volumeGuestPath: await guestPath(volumePath) });
          return {
            usage: r.usage.map((u) => ({
              available: Number(u.available),
              total: Number(u.total),
              used: Number(u.used),
              unit: VolumeUsage_Unit[u.unit] ?? String(u.unit),
            })),
            volume_condition: r.volumeCondition
              ? { abnormal: r.volumeCondition.abnormal, message: r.volumeCondition.message }
              : undefined,
          };
        },
        resizeVolume: async (volumePath, size) => {
          await sb.agent.resizeVolume({
            volumeGuestPath: await guestPath(volumePath),
            size: BigInt(size),
          });
        },
      });
      log.info("sandbox {id}: management socket {path}", { id: sb.id, path: server.path });
    },
    async stop() {
      lag?.stop();
      await server?.close();
      server = undefined;
    },
  };
}
