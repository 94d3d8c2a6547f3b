/**
 * The long-running shim server: binds its socket before anything else (a
 * temporary name renamed onto the address, then one byte on the readiness
 * pipe `start` waits on; shim/start.ts says why), serves `containerd.task.v2.Task`,
 * the same service as `containerd.task.v3.Task` (containerd 2.x) and
 * `containerd.runtime.sandbox.v1.Sandbox` (its Sandbox API) over ttRPC, logs to the bundle's `log` FIFO,
 * reaps its containers' processes as child subreaper, and exits after a
 * Shutdown once no container is left. SIGTERM is ignored, like runtime-rs
 * (a systemd stop must not take the containers down); containerd ends a
 * shim with Shutdown, and `shim delete` cleans up after a SIGKILL.
 * @module
 */
import { InvalidArgumentError } from "../common/errors.ts";
import type { Invocation } from "./options.ts";
import { socketPath } from "./address.ts";
import { setCloseOnExec, signalReady } from "../ffi/inherit.ts";
import { bindingPath, CONFIG_PATH_ENV, READY_FD_ENV } from "./server_env.ts";
import { selfCommand } from "./self_command.ts";

const EVENT_FLUSH_MS = 5000;
/**
 * How long the exit waits for replies still in flight: a Kill whose `runc kill`
 * is still running when the killed container's exit already led containerd to
 * Delete and Shutdown (seen under load: the exit cut that Kill's reply, and
 * containerd's StopPodSandbox failed with "ttrpc: closed"). Normally the replies
 * are written within milliseconds and the exit follows at once; only a reply
 * that cannot come (a Wait under `Shutdown now`) waits this long.
 */
const SHUTDOWN_DRAIN_MS = 2000;

/** Runs the server until Shutdown; returns the exit code. */
export async function serve(inv: Invocation): Promise<number> {
  const f = inv.flags;
  if (!f.socket) throw new InvalidArgumentError("Serve: -socket is required");
  if (!f.id || !f.namespace) {
    throw new InvalidArgumentError("Serve: -id and -namespace are required");
  }
  const bundle = f.bundle || Deno.cwd();
  const path = socketPath(f.socket);
  // Ignored from the first moment: `start` returns at the bind, and a SIGTERM before the
  // listener was added would end the server with the default action.
  const term: { log?: { info(msg: string): void } } = {};
  Deno.addSignalListener(
    "SIGTERM",
    () => term.log?.info("SIGTERM ignored; containerd stops a shim with Shutdown"),
  );
  // The socket first, before any module is loaded: `start` waits for it.
  let bound: Deno.UnixListener | undefined;
  let bindError: unknown;
  try {
    bound = await bindSocket(path);
  } catch (e) {
    bindError = e;
  }
  const [{ getLogger, setupLogging, writerSink }, { LogFifoWriter }] = await Promise.all([
    import("../common/log.ts"),
    import("./log_fifo.ts"),
  ]);
  await setupLogging({
    level: f.debug ? "debug" : "info",
    // Never a blocking open or write of the FIFO: the server must answer without a reader.
    sink: writerSink(new LogFifoWriter(`${bundle}/log`)),
    properties: { sandbox: f.id },
  });
  const log = getLogger("shim");
  term.log = log;
  let loaded;
  try {
    if (!bound) throw bindError;
    const listener = bound;
    // containerd's connection and first request wait in the socket's backlog meanwhile.
    const { TtrpcServer } = await import("../ttrpc/mod.ts");
    const [{ setChildSubreaper }, { Reaper }, { EventPublisher }, svc, taskGen] = await Promise
      .all([
        import("../ffi/process.ts"),
        import("../runtimes/reaper.ts"),
        import("../service/events.ts"),
        import("../service/mod.ts"),
        import("../service/gen/containerd/task/v2/shim_pb.ts"),
      ]);
    setChildSubreaper(true);
    loaded = { listener, TtrpcServer, Reaper, EventPublisher, svc, taskGen };
  } catch (e) {
    // The log FIFO is how containerd learns why its request failed: before the bind,
    // `start` fails with the exit status; after it, the exit closes the listener, so
    // containerd's pending request fails at once.
    log.error("shim server start-up failed: {error}", {
      error: e instanceof Error ? e.message : String(e),
    });
    throw e;
  }
  const { listener, TtrpcServer, Reaper, EventPublisher, svc, taskGen } = loaded;
  const reaper = new Reaper();
  const events = new EventPublisher({
    namespace: f.namespace,
    ttrpcAddress: Deno.env.get("TTRPC_ADDRESS"),
    grpcAddress: f.address,
    publishBinary: f["publish-binary"],
  });
  const server = new TtrpcServer();
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const slot = new svc.RuntimeSlot(
    svc.handlerFactory({ reaper, events: (e) => events.publish(e), selfCommand: selfCommand() }),
    Deno.env.get(CONFIG_PATH_ENV) || undefined,
  );
  const task = new svc.TaskService({ events, reaper, slot, onShutdown: () => stop() });
  const taskImpl = task.impl();
  server.register(taskGen.Task, taskImpl);
  // containerd 2.x's names for the same calls, and its Sandbox API: both are
  // loaded only when asked for (a 1.x containerd never does).
  server.registerLazy(svc.TASK_V3, async () => ({
    service: (await import("../service/gen/containerd/task/v3/shim_pb.ts")).Task,
    impl: taskImpl,
  }));
  server.registerLazy(svc.SANDBOX_V1, async () => ({
    service: (await import("../service/gen/containerd/runtime/sandbox/v1/sandbox_pb.ts")).Sandbox,
    impl: new (await import("../service/sandbox_service.ts")).SandboxService({
      slot,
      onShutdown: () => stop(),
    }).impl(),
  }));
  log.info("serving {address} ({ms} ms after exec)", {
    address: f.socket,
    ms: Math.round(performance.now()),
  });
  // Nothing is loaded ahead for Create here: containerd's first request is already
  // waiting in the backlog, and loading modules now only delays its answer (by about
  // 75 ms for a Connect, measured); Create loads what it needs.
  server.serve(listener).catch((e) => log.warn("ttrpc serving ended: {e}", { e: String(e) }));
  await stopped;
  const stoppedAt = performance.now();
  // Everything that must finish happens while containerd still holds the connection: it
  // runs `shim delete` as soon as the connection closes, and that kills a shim still alive.
  await slot.handler?.shutdown();
  if (!(await events.flush(EVENT_FLUSH_MS))) log.warn("events still queued at exit were dropped");
  // The socket file goes now (connected sockets stay): nothing is left after the exit.
  try {
    removeStale(path);
  } catch (e) {
    log.warn("cannot remove the socket {path}: {e}", { path, e: String(e) });
  }
  log.info("shim exits ({ms} ms after Shutdown)", {
    ms: Math.round((performance.now() - stoppedAt) * 10) / 10,
  });
  // Then each connection closes as soon as its in-flight replies (the Shutdown reply, a
  // Kill still finishing) are written, not after a fixed pause, and the process exits
  // right after (containerd's `shim delete` starts at the close). A reply that cannot
  // come (a Wait of a process still running under `Shutdown now`) is given up after
  // SHUTDOWN_DRAIN_MS.
  let drainTimer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    server.shutdown(),
    new Promise((r) => drainTimer = setTimeout(r, SHUTDOWN_DRAIN_MS)),
  ]);
  clearTimeout(drainTimer);
  Deno.exit(0);
}

/**
 * The listening socket at `path`. Spawned by `start` (its readiness pipe's
 * fd in `KATA_SHIM_READY_FD`): bound on a temporary name in the same
 * directory and renamed onto `path`, so the address never names a socket
 * nobody listens on (a stale one of a dead shim is replaced in one step;
 * `start` checked that nothing serves it), then signalled ready. Run by
 * hand: bound at `path`, replacing a stale socket only.
 */
async function bindSocket(path: string): Promise<Deno.UnixListener> {
  const ready = Deno.env.get(READY_FD_ENV);
  if (ready) {
    // Neither the fd nor its number may reach the processes this server spawns.
    Deno.env.delete(READY_FD_ENV);
    const fd = Number(ready);
    if (!Number.isInteger(fd) || fd < 3) {
      throw new InvalidArgumentError(`Serve: ${READY_FD_ENV} must be an fd number, not "${ready}"`);
    }
    setCloseOnExec(fd, true);
    const temp = bindingPath(path, Deno.pid);
    removeStale(temp);
    const listener = Deno.listen({ transport: "unix", path: temp });
    try {
      Deno.renameSync(temp, path);
    } catch (e) {
      listener.close();
      removeStale(temp);
      throw e;
    }
    signalReady(fd);
    return listener;
  }
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true, mode: 0o700 });
  // A stale socket of a dead shim: the ttRPC helper replaces it when nothing answers.
  return await (await import("../ttrpc/mod.ts")).listenUnix(path, { replaceStale: true });
}

function removeStale(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}
