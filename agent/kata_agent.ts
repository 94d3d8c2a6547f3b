/**
 * The shim side of the Kata agent protocol: typed `grpc.AgentService` and
 * `grpc.Health` calls over ttRPC on vsock, hybrid vsock or a Unix socket,
 * dialled with Kata's retry timing and redialled after a broken connection.
 * The object it returns has every AgentService method plus `check`,
 * `version`, `waitReady` and `close`, so it fits the runtime's AgentApi.
 * @module
 */
import { type Client, createClient } from "@connectrpc/connect";
import { AgentService } from "./gen/agent_pb.ts";
import { Health, HealthCheckResponse_ServingStatus } from "./gen/health_pb.ts";
import { UnavailableError } from "../common/errors.ts";
import { getLogger } from "../common/log.ts";
import { createTtrpcTransport } from "../ttrpc/transport.ts";
import {
  dialSocketAddress,
  formatSocketAddress,
  parseSocketAddress,
  type SocketAddress,
} from "../ttrpc/transport/address.ts";

const log = getLogger("agent.client");

/** Kata's agent port inside the guest (one constant, shared with the drivers). */
export { AGENT_PORT } from "../common/agent_port.ts";

/** Timeouts, defaulting to runtime-rs's `[agent.kata]` defaults. */
export interface KataAgentOptions {
  /** Time for one dial, retried until `reconnectTimeoutMs` (Kata: dial_timeout, 10 ms pauses). */
  dialRetryIntervalMs?: number;
  /** Total time to establish a connection (Kata: reconnect_timeout, 3000 ms). */
  reconnectTimeoutMs?: number;
  /** Deadline of calls that set none (Kata: request_timeout for CreateContainer, 30 s). */
  requestTimeoutMs?: number;
}

/** A connected agent client. */
export type KataAgent = Client<typeof AgentService> & {
  /** The agent's address (`vsock://3:1024`, `hvsock:///path:1024`, `unix:///path`). */
  readonly address: string;
  /** `grpc.Health/Check`. */
  check: Client<typeof Health>["check"];
  /** `grpc.Health/Version`. */
  version: Client<typeof Health>["version"];
  /**
   * Calls Check until the agent answers SERVING, redialling as needed.
   * @throws {UnavailableError} when it does not within `timeoutMs`
   */
  waitReady(timeoutMs: number): Promise<void>;
  /** Closes the connection; pending calls fail with Unavailable. */
  close(): void;
};

/**
 * A client for the agent at `address` (a Kata address string or a parsed
 * one). It dials on first use, retrying while the guest is not listening
 * yet, and redials after a break.
 */
export function kataAgent(
  address: string | SocketAddress,
  opts: KataAgentOptions = {},
): KataAgent {
  const addr = typeof address === "string" ? parseSocketAddress(address) : address;
  const url = formatSocketAddress(addr);
  const dial = {
    timeoutMs: opts.reconnectTimeoutMs ?? 3000,
    retryIntervalMs: opts.dialRetryIntervalMs ?? 10,
  };
  const transport = createTtrpcTransport(() => dialSocketAddress(addr, dial), {
    defaultTimeoutMs: opts.requestTimeoutMs ?? 30_000,
  });
  const agent = createClient(AgentService, transport);
  const health = createClient(Health, transport);
  return {
    ...agent,
    address: url,
    check: health.check,
    version: health.version,
    async waitReady(timeoutMs: number) {
      const deadline = performance.now() + timeoutMs;
      let last: unknown;
      while (performance.now() < deadline) {
        try {
          const res = await health.check({}, {
            timeoutMs: Math.max(1, Math.min(5000, deadline - performance.now())),
          });
          if (res.status === HealthCheckResponse_ServingStatus.SERVING) return;
          last = new Error(`status ${HealthCheckResponse_ServingStatus[res.status]}`);
        } catch (err) {
          last = err;
          transport.close();
        }
        log.debug("Agent at {url} not ready: {error}", { url, error: String(last) });
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new UnavailableError(
        `Agent at ${url} not ready after ${timeoutMs} ms: ${
          last instanceof Error ? last.message : String(last)
        }`,
      );
    },
    close: () => transport.close(),
  };
}

/**
 * Connects to the agent and waits until it answers its health check
 * (`timeoutMs`, Kata's health-check budget by default 90 s).
 */
export async function connectKataAgent(
  address: string | SocketAddress,
  opts: KataAgentOptions & { readyTimeoutMs?: number } = {},
): Promise<KataAgent> {
  const agent = kataAgent(address, opts);
  try {
    await agent.waitReady(opts.readyTimeoutMs ?? 90_000);
    return agent;
  } catch (err) {
    agent.close();
    throw err;
  }
}

/** `[agent.kata]` dial timing as the runtime passes it. */
export interface DialTimeouts {
  /** Kata's dial_timeout: the pause between attempts (ms). */
  dialTimeoutMs: number;
  /** Kata's reconnect_timeout: the total time to get a connection (ms). */
  reconnectTimeoutMs: number;
}

/**
 * Dials the agent at `socket` with the runtime's timeouts and returns the
 * client once a connection is made (a dialer for the VirtContainer runtime).
 * @throws {UnavailableError} when no connection was made within reconnectTimeoutMs
 */
export async function dialKataAgent(
  socket: SocketAddress,
  timeouts: DialTimeouts,
): Promise<KataAgent> {
  const conn = await dialSocketAddress(socket, {
    timeoutMs: timeouts.reconnectTimeoutMs,
    retryIntervalMs: Math.max(1, timeouts.dialTimeoutMs),
  });
  // The probe connection proves the guest listens; calls use the client's own.
  conn.close();
  return kataAgent(socket, {
    reconnectTimeoutMs: timeouts.reconnectTimeoutMs,
    dialRetryIntervalMs: Math.max(1, timeouts.dialTimeoutMs),
  });
}
