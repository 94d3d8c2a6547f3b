/**
 * The guest agent: serves `grpc.AgentService` and `grpc.Health` over ttRPC on
 * vsock port 1024 (or any `unix://`/`vsock://` address given with
 * `--listen`), as kata-agent does. Started by the guest's /init, which
 * restarts it should it exit; a failing request never ends it.
 *
 *   deno run -A --unstable-vsock agent.js [--listen vsock://-1:1024]
 *     [--log-listen vsock://-1:1025] [--log-level info]
 * @module
 */
import { AgentService } from "../gen/agent_pb.ts";
import { Health } from "../gen/health_pb.ts";
import { InvalidArgumentError } from "../../common/errors.ts";
import { getLogger, setupLogging, writerSink } from "../../common/log.ts";
import { TtrpcServer } from "../../ttrpc/server.ts";
import { parseSocketAddress } from "../../ttrpc/transport/address.ts";
import { listenUnix } from "../../ttrpc/transport/unix.ts";
import { listenVsock } from "../../ttrpc/transport/vsock.ts";
import { agentService, healthService } from "./agent_service.ts";
import { LOG_PORT, LogPort } from "./log_port.ts";
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
  else {throw new InvalidArgumentError(
      `Cannot listen on ${opts.listen}: hybrid vsock is a host-side address`,
    );}
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
  // Logs go to the console and to readers of the log port (the shim's forwarder).
  const logPort = new LogPort();
  const console = writerSink(Deno.stderr);
  const toPort = logPort.sink();
  await setupLogging({
    level,
    properties: { source: "agent" },
    sink: (record) => {
      console(record);
      toPort(record);
    },
  });
  const logListen = flag(Deno.args, "log-listen") ?? `vsock://-1:${LOG_PORT}`;
  const logAddr = parseSocketAddress(logListen);
  if (logAddr.kind === "vsock") logPort.serve(listenVsock(logAddr.port, logAddr.cid));
  else if (logAddr.kind === "unix") {
    logPort.serve(await listenUnix(logAddr.path, { replaceStale: true }));
  }
  // A stray rejection in one request must not take the agent down.
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    log.error("unhandled rejection: {error}", { error: String(e.reason) });
  });
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    log.error("uncaught error: {error}", { error: String(e.error) });
  });
  const listen = flag(Deno.args, "listen") ?? DEFAULT_LISTEN;
  const agent = await startAgent({ listen });
  log.info("agent ready on {listen}", { listen });
  await agent.served;
}
