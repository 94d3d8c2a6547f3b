/**
 * What the VirtContainer runtime needs from the Kata agent client: the typed
 * AgentService calls it makes, the health Check, and close. It is exactly the
 * shape of connect clients over a ttRPC transport, so
 * {@link agentApiFromTransport} builds one from any transport (vsock, hybrid
 * vsock, a test server on a Unix socket), and the shim-side `KataAgent`
 * fits it too. How the connection is dialled is the caller's
 * {@link AgentDialer}.
 * @module
 */
import { type Client, createClient } from "@connectrpc/connect";
import { AgentService } from "../../agent/gen/agent_pb.ts";
import { Health } from "../../agent/gen/health_pb.ts";
import type { AgentSocket } from "../../hypervisor/hypervisor.ts";
import type { TtrpcTransport } from "../../ttrpc/transport.ts";

type AgentClient = Client<typeof AgentService>;

/** The agent calls this runtime makes. */
export type AgentApi =
  & Pick<
    AgentClient,
    | "createSandbox"
    | "getGuestDetails"
    | "updateInterface"
    | "addARPNeighbors"
    | "updateRoutes"
    | "createContainer"
    | "startContainer"
    | "removeContainer"
    | "execProcess"
    | "signalProcess"
    | "waitProcess"
    | "readStdout"
    | "readStderr"
    | "writeStdin"
    | "closeStdin"
    | "ttyWinResize"
    | "statsContainer"
    | "updateContainer"
    | "pauseContainer"
    | "resumeContainer"
    | "copyFile"
    | "getOOMEvent"
    | "getMetrics"
    | "getVolumeStats"
    | "resizeVolume"
  >
  & {
    /** `grpc.Health/Check`. */
    check: Client<typeof Health>["check"];
    /** Closes the connection; pending calls fail. */
    close(): void;
  };

/**
 * Call options for the calls upstream makes without a deadline (WaitProcess,
 * ReadStdout/ReadStderr, WriteStdin, GetOOMEvent): they block as long as the
 * process runs, so a client's default deadline must not apply.
 */
export const NO_DEADLINE = { timeoutMs: 0 } as const;

/** Timeouts of `[agent.kata]` that govern dialling. */
export interface DialTimeouts {
  dialTimeoutMs: number;
  reconnectTimeoutMs: number;
}

/** Connects to the agent at `socket` (retrying within the timeouts). */
export type AgentDialer = (socket: AgentSocket, timeouts: DialTimeouts) => Promise<AgentApi>;

/** An {@link AgentApi} over a ttRPC transport. */
export function agentApiFromTransport(transport: TtrpcTransport): AgentApi {
  const a = createClient(AgentService, transport);
  const h = createClient(Health, transport);
  return {
    createSandbox: a.createSandbox,
    getGuestDetails: a.getGuestDetails,
    updateInterface: a.updateInterface,
    addARPNeighbors: a.addARPNeighbors,
    updateRoutes: a.updateRoutes,
    createContainer: a.createContainer,
    startContainer: a.startContainer,
    removeContainer: a.removeContainer,
    execProcess: a.execProcess,
    signalProcess: a.signalProcess,
    waitProcess: a.waitProcess,
    readStdout: a.readStdout,
    readStderr: a.readStderr,
    writeStdin: a.writeStdin,
    closeStdin: a.closeStdin,
    ttyWinResize: a.ttyWinResize,
    statsContainer: a.statsContainer,
    updateContainer: a.updateContainer,
    pauseContainer: a.pauseContainer,
    resumeContainer: a.resumeContainer,
    copyFile: a.copyFile,
    getOOMEvent: a.getOOMEvent,
    getMetrics: a.getMetrics,
    getVolumeStats: a.getVolumeStats,
    resizeVolume: a.resizeVolume,
    check: h.check,
    close: () => transport.close(),
  };
}
