/**
 * What the VirtContainer runtime needs from the Kata agent client: the typed
 * AgentService calls it makes, the health Check, and close. The shim-side
 * `KataAgent` (agent/kata_agent.ts, with `domainErrors`) fits it; its calls
 * reject with domain errors (common/errors.ts), never transport codes. How
 * the connection is dialled is the caller's {@link AgentDialer}
 * (runtimes/manager.ts).
 * @module
 */
import type { Client } from "@connectrpc/connect";
import { AgentService } from "../../agent/gen/agent_pb.ts";
import { Health } from "../../agent/gen/health_pb.ts";
import type { AgentSocket } from "../../hypervisor/hypervisor.ts";

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
    | "reseedRandomDev"
    | "setGuestDateTime"
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
interface DialTimeouts {
  dialTimeoutMs: number;
  reconnectTimeoutMs: number;
  /** `request_timeout_ms`: the deadline of calls that set none of their own. */
  requestTimeoutMs?: number;
}

/** Connects to the agent at `socket` (retrying within the timeouts). */
export type AgentDialer = (socket: AgentSocket, timeouts: DialTimeouts) => Promise<AgentApi>;
