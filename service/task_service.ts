/**
 * containerd's `containerd.task.v2.Task` service: decodes each request,
 * calls the runtime handler, and encodes the answer. The runtime handler is
 * chosen from the configuration at the first Create (runtime options'
 * `config_path`, else the default lookup). Domain errors become status codes
 * here, at the boundary.
 * @module
 */
import { create, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { type Any, AnySchema, type Timestamp, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { InvalidArgumentError, UnimplementedError } from "../common/errors.ts";
import { getLogger } from "../common/log.ts";
import type { ExitStatus, ProcessState, RuntimeHandler } from "../runtimes/handler.ts";
import { type HandlerFactory, handlerFactory } from "../runtimes/manager.ts";
import type { Reaper } from "../runtimes/reaper.ts";
import { Task } from "./gen/containerd/task/v2/shim_pb.ts";
import { Status } from "./gen/containerd/types/task_pb.ts";
import { OptionsSchema } from "./gen/containerd/runtimeoptions/v1/api_pb.ts";
import { atBoundary } from "./errors.ts";
import { RuntimeSlot } from "./runtime_slot.ts";
import type { EventPublisher } from "./events.ts";
import { packEvent } from "./events.ts";

const log = getLogger("service.task");

/** What the Task service needs from the shim around it. */
interface TaskServiceOptions {
  events: EventPublisher;
  reaper: Reaper;
  /** Builds the handler at the first Create; the runtimes manager's {@link handlerFactory} by default. */
  handlerFactory?: HandlerFactory;
  /** Called when Shutdown decides the shim should exit. */
  onShutdown: () => void;
  /** The handler slot shared with the Sandbox service; a private one otherwise. */
  slot?: RuntimeSlot;
}

const STATUS: Record<ProcessState, Status> = {
  created: Status.CREATED,
  running: Status.RUNNING,
  paused: Status.PAUSED,
  stopped: Status.STOPPED,
  deleted: Status.STOPPED,
};

/** The runtime options' config path, from a `runtimeoptions.v1.Options` Any. */
export function configPathFromOptions(options: Any | undefined): string | undefined {
  if (!options || options.value.length === 0) return undefined;
  if (!options.typeUrl.endsWith("runtimeoptions.v1.Options")) return undefined;
  const o = fromBinary(OptionsSchema, options.value);
  return o.configPath || undefined;
}

function decodeJsonAny(a: Any | undefined, what: string): Record<string, unknown> {
  if (!a) throw new InvalidArgumentError(`${what} is missing`);
  try {
    return JSON.parse(new TextDecoder().decode(a.value));
  } catch (e) {
    throw new InvalidArgumentError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}

function exitTime(d: Date | undefined): Timestamp | undefined {
  return d ? timestampFromDate(d) : undefined;
}

// containerd.runc.v1.ProcessDetails { exec_id = 1 }, encoded by hand (one string field).
function processDetails(execId: string): Any {
  const id = new TextEncoder().encode(execId);
  const value = new Uint8Array(2 + id.length);
  value[0] = 0x0a;
  value[1] = id.length;
  value.set(id, 2);
  return create(AnySchema, { typeUrl: "containerd.runc.v1.ProcessDetails", value });
}

/** The Task service bound to one shim. */
export class TaskService {
  readonly #slot: RuntimeSlot;

  constructor(readonly opts: TaskServiceOptions) {
    this.#slot = opts.slot ?? new RuntimeSlot(
      opts.handlerFactory ??
        handlerFactory({ reaper: opts.reaper, events: (e) => opts.events.publish(e) }),
    );
  }

  /** The handler, once a Create made it. */
  get handler(): RuntimeHandler | undefined {
    return this.#slot.handler;
  }

  #need(id: string): RuntimeHandler {
    return this.#slot.need(`Container "${id}"`);
  }

  /** The connect implementation; every method maps its errors at the boundary. */
  impl(): Partial<ServiceImpl<typeof Task>> {
    const wrap = atBoundary(log);
    const exitShape = (e: ExitStatus) => ({
      pid: e.pid,
      exitStatus: e.exitStatus,
      exitedAt: timestampFromDate(e.exitedAt),
    });
    return {
      state: wrap("State", async (req) => {
        const s = await this.#need(req.id).state(req.id, req.execId);
        return {
          id: req.execId || req.id,
          bundle: s.bundle,
          pid: s.pid,
          status: STATUS[s.state],
          stdin: s.stdin,
          stdout: s.stdout,
          stderr: s.stderr,
          terminal: s.terminal,
          exitStatus: s.exitStatus,
          exitedAt: exitTime(s.exitedAt),
          execId: req.execId,
        };
      }),
      create: wrap("Create", async (req) => {
        if (req.checkpoint) {
          throw new UnimplementedError(
            "Cannot create from a checkpoint: checkpoints are not supported",
          );
        }
        const handler = await this.#slot.obtain(configPathFromOptions(req.options));
        const pid = await handler.createContainer({
          id: req.id,
          bundle: req.bundle,
          rootfs: req.rootfs.map((m) => ({
            type: m.type,
            source: m.source,
            target: m.target,
            options: [...m.options],
          })),
          terminal: req.terminal,
          stdin: req.stdin,
          stdout: req.stdout,
          stderr: req.stderr,
          configPath: configPathFromOptions(req.options),
        });
        return { pid };
      }),
      start: wrap(
        "Start",
        async (req) => ({ pid: await this.#need(req.id).start(req.id, req.execId) }),
      ),
      delete: wrap(
        "Delete",
        async (req) => exitShape(await this.#need(req.id).delete(req.id, req.execId)),
      ),
      pids: wrap("Pids", async (req) => {
        const list = await this.#need(req.id).pids(req.id);
        return {
          processes: list.map((p) => ({
            pid: p.pid,
            info: p.execId ? processDetails(p.execId) : undefined,
          })),
        };
      }),
      pause: wrap("Pause", async (req) => {
        await this.#need(req.id).pause(req.id);
        return {};
      }),
      resume: wrap("Resume", async (req) => {
        await this.#need(req.id).resume(req.id);
        return {};
      }),
      checkpoint: wrap("Checkpoint", (req) => {
        throw new UnimplementedError(
          `Cannot checkpoint container "${req.id}": checkpoints are not supported by this shim`,
        );
      }),
      kill: wrap("Kill", async (req) => {
        await this.#need(req.id).kill(req.id, req.execId, req.signal, req.all);
        return {};
      }),
      exec: wrap("Exec", async (req) => {
        await this.#need(req.id).exec({
          containerId: req.id,
          execId: req.execId,
          terminal: req.terminal,
          stdin: req.stdin,
          stdout: req.stdout,
          stderr: req.stderr,
          process: decodeJsonAny(req.spec, `the process spec of exec "${req.execId}"`),
        });
        return {};
      }),
      resizePty: wrap("ResizePty", async (req) => {
        await this.#need(req.id).resizePty(req.id, req.execId, req.width, req.height);
        return {};
      }),
      closeIO: wrap("CloseIO", async (req) => {
        if (req.stdin) await this.#need(req.id).closeIo(req.id, req.execId);
        return {};
      }),
      update: wrap("Update", async (req) => {
        const res = decodeJsonAny(req.resources, `the resources of container "${req.id}"`);
        await this.#need(req.id).update(req.id, res);
        return {};
      }),
      wait: wrap("Wait", async (req) => {
        const e = await this.#need(req.id).wait(req.id, req.execId);
        return { exitStatus: e.exitStatus, exitedAt: timestampFromDate(e.exitedAt) };
      }),
      stats: wrap("Stats", async (req) => {
        const s = await this.#need(req.id).stats(req.id);
        // The metrics schemas are large and only Stats needs them: load on first use.
        if (s.version === 1) {
          const { MetricsSchema } = await import("./gen/containerd/cgroups/v1/metrics_pb.ts");
          return {
            stats: packEvent(MetricsSchema, s.metrics as MessageInitShape<typeof MetricsSchema>),
          };
        }
        const { MetricsSchema } = await import("./gen/containerd/cgroups/v2/metrics_pb.ts");
        return {
          stats: packEvent(MetricsSchema, s.metrics as MessageInitShape<typeof MetricsSchema>),
        };
      }),
      connect: wrap("Connect", (req) =>
        Promise.resolve({
          shimPid: Deno.pid,
          taskPid: this.#slot.handler?.taskPid(req.id) ?? 0,
          version: "",
        })),
      shutdown: wrap("Shutdown", (req) => {
        const h = this.#slot.handler;
        const left = h?.containerIds() ?? [];
        // One shim serves a whole pod: it exits only once no container is left,
        // and a pod of the Sandbox API only at ShutdownSandbox.
        if ((left.length === 0 && !h?.podSandboxId()) || req.now) this.opts.onShutdown();
        return Promise.resolve({});
      }),
    };
  }
}
