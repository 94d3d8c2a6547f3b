/**
 * The guest agent: serves `grpc.AgentService` and `grpc.Health` over ttRPC on
 * vsock port 1024 (or any `unix://`/`vsock://` address given with
 * `--listen`), as kata-agent does. Started by the guest's /init, which
 * restarts it should it exit; a failing request never ends it.
 *
 *   deno run -A --unstable-vsock agent.js [--listen vsock://-1:1024] [--log-level info]
 * @module
 */
import { AgentService } from "../gen/agent_pb.ts";
import { Health } from "../gen/health_pb.ts";
import { getLogger, setupLogging } from "../../common/log.ts";
import { TtrpcServer } from "../../ttrpc/server.ts";
import { parseSocketAddress } from "../../ttrpc/transport/address.ts";
import { listenUnix } from "../../ttrpc/transport/unix.ts";
import { listenVsock } from "../../ttrpc/transport/vsock.ts";
import { agentService, healthService } from "./agent_service.ts";
import { rootIsInitramfs } from "./runc.ts";
import { GuestSandbox } from "./sandbox.ts";

const log = getLogger("agent.guest");

/** Default listen address: every CID, Kata's agent port. */
export const DEFAULT_LISTEN = "vsock://-1:1024";

/** Options of {@link startAgent}. */
export interface AgentOptions {
  listen: string;
  runcBinary?: string;
  runcRoot?: string;
  bundleRoot?: string;
}

/** A running agent. */
export interface RunningAgent {
  server: TtrpcServer;
  sandbox: GuestSandbox;
  /** Resolves when the listener closes. */
  served: Promise<void>;
  close(): Promise<void>;
}

/** Starts serving on `opts.listen`. */
export async function startAgent(opts: AgentOptions): Promise<RunningAgent> {
  const sandbox = new GuestSandbox({
    runc: {
      binary: opts.runcBinary ?? "runc",
      root: opts.runcRoot ?? "/run/runc",
      noPivot: await rootIsInitramfs(),
    },
    bundleRoot: opts.bundleRoot,
  });
  const server = new TtrpcServer()
    .register(Health, healthService())
    .register(AgentService, agentService(sandbox));
  const addr = parseSocketAddress(opts.listen);
  let listener: Deno.Listener;
  if (addr.kind === "unix") listener = await listenUnix(addr.path, { replaceStale: true });
  else if (addr.kind === "vsock") listener = listenVsock(addr.port, addr.cid);
  else throw new Error(`Cannot listen on ${opts.listen}: hybrid vsock is a host-side address`);
  const served = server.serve(listener);
  return {
    server,
    sandbox,
    served,
    async close() {
      await server.close();
      await sandbox.destroy().catch(() => {});
    },
  };
}

function flag(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === `--${name}`) return args[i + 1];
    if (args[i].startsWith(`--${name}=`)) return args[i].slice(name.length + 3);
  }
  return undefined;
}

if (import.meta.main) {
  const level = (flag(Deno.args, "log-level") ?? "info") as "info";
  await setupLogging({ level, properties: { source: "agent" } });
  // A stray rejection in one request must not take the agent down.
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    log.error("Unhandled rejection: {error}", { error: String(e.reason) });
  });
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    log.error("Uncaught error: {error}", { error: String(e.error) });
  });
  const listen = flag(Deno.args, "listen") ?? DEFAULT_LISTEN;
  const agent = await startAgent({ listen });
  // kata's runtime waits for this line on the console in debug setups; tests time boot with it.
  log.info("Agent ready on {listen}", { listen });
  console.error(`runtime-ts agent ready on ${listen}`);
  await agent.served;
}
