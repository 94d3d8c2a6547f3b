/**
 * The shim side of the Kata agent protocol: typed `grpc.AgentService` and
 * `grpc.Health` calls over ttRPC on vsock, hybrid vsock or a Unix socket,
 * dialled with Kata's retry timing and redialled after a broken connection.
 * {@link kataAgent} is the one way to reach an agent; with `domainErrors`
 * (what the runtime uses) a failed call rejects with a domain error.
 * The object it returns has every AgentService method plus `check`,
 * `version`, `waitReady` and `close`, so it fits the runtime's AgentApi.
 * @module
 */
import { type Client, createClient } from "@connectrpc/connect";
import { AgentService } from "./gen/agent_pb.ts";
import { Health, HealthCheckResponse_ServingStatus } from "./gen/health_pb.ts";
import { UnavailableError } from "../common/errors.ts";
import { domainError } from "../ttrpc/status.ts";
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
  /**
   * Calls reject with domain errors (`common/errors.ts`: UnavailableError,
   * NotFoundError, ...) instead of the peer's ConnectError, so the runtime
   * never handles transport codes. Off for protocol tests that check the
   * wire status itself.
   */
  domainErrors?: boolean;
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
  let agent = createClient(AgentService, transport);
  let health = createClient(Health, transport);
  if (opts.domainErrors) {
    agent = withDomainErrors(agent);
    health = withDomainErrors(health);
  }
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
          last = new UnavailableError(
            `Health status ${HealthCheckResponse_ServingStatus[res.status]}`,
          );
        } catch (err) {
          last = err;
          transport.close();
        }
        log.debug("agent at {url} not ready: {error}", { url, error: String(last) });
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

/** The same client, each call's ConnectError turned into the domain error of its code. */
function withDomainErrors<T extends object>(client: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(client)) {
    if (typeof value !== "function") {
      out[name] = value;
      continue;
    }
    const what = `Agent call ${name[0].toUpperCase()}${name.slice(1)}`;
    out[name] = async (...args: unknown[]) => {
      try {
        return await value(...args);
      } catch (e) {
        throw domainError(e, what);
      }
    };
  }
  return out as T;
}
