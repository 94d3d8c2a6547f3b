/**
 * Publishes task events to containerd: ttRPC `Events/Forward` to
 * `TTRPC_ADDRESS`, or, when that is unset, `<publish-binary> --address A
 * publish --topic T --namespace N` with the event `Any` on stdin. Events
 * leave one at a time in the order they were queued; a failed delivery is
 * retried with backoff and never skipped, so containerd sees create → start
 * → exit → delete even across its own restart.
 * @module
 */
import { UnavailableError } from "../common/errors.ts";
import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { type Any, AnySchema, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { getLogger } from "../common/log.ts";
import { within } from "../common/time.ts";
import { connectUnix, createTtrpcTransport, type TtrpcTransport } from "../ttrpc/mod.ts";
import {
  Events,
  ForwardRequestSchema,
} from "./gen/containerd/services/events/ttrpc/v1/events_pb.ts";
import {
  TaskCreateSchema,
  TaskDeleteSchema,
  TaskExecAddedSchema,
  TaskExecStartedSchema,
  TaskExitSchema,
  TaskOOMSchema,
  TaskPausedSchema,
  TaskResumedSchema,
  TaskStartSchema,
} from "./gen/containerd/events/task_pb.ts";
import type { TaskEvent } from "../runtimes/events.ts";

const log = getLogger("service.events");

const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5000;
const FORWARD_TIMEOUT_MS = 5000;

/** An Any with containerd's bare type URL (no `type.googleapis.com/` prefix). */
export function packEvent<D extends DescMessage>(schema: D, init: MessageInitShape<D>): Any {
  return create(AnySchema, {
    typeUrl: schema.typeName,
    value: toBinary(schema, create(schema, init)),
  });
}

/** The fields TaskExit and TaskDelete share: who ended, and how. */
function exitFields(e: Extract<TaskEvent, { topic: "/tasks/exit" | "/tasks/delete" }>) {
  return {
    containerId: e.containerId,
    id: e.id,
    pid: e.pid,
    exitStatus: e.exitStatus,
    exitedAt: timestampFromDate(e.exitedAt),
  };
}

/** Converts a runtime event into the containerd event message it stands for. */
export function encodeEvent(e: TaskEvent): Any {
  switch (e.topic) {
    case "/tasks/create":
      return packEvent(TaskCreateSchema, {
        containerId: e.containerId,
        bundle: e.bundle,
        rootfs: e.rootfs,
        io: {
          stdin: e.io.stdin,
          stdout: e.io.stdout,
          stderr: e.io.stderr,
          terminal: e.io.terminal,
        },
        pid: e.pid,
      });
    case "/tasks/start":
      return packEvent(TaskStartSchema, { containerId: e.containerId, pid: e.pid });
    case "/tasks/exit":
      return packEvent(TaskExitSchema, exitFields(e));
    case "/tasks/delete":
      return packEvent(TaskDeleteSchema, exitFields(e));
    case "/tasks/exec-added":
      return packEvent(TaskExecAddedSchema, { containerId: e.containerId, execId: e.execId });
    case "/tasks/exec-started":
      return packEvent(TaskExecStartedSchema, {
        containerId: e.containerId,
        execId: e.execId,
        pid: e.pid,
      });
    case "/tasks/paused":
      return packEvent(TaskPausedSchema, { containerId: e.containerId });
    case "/tasks/resumed":
      return packEvent(TaskResumedSchema, { containerId: e.containerId });
    case "/tasks/oom":
      return packEvent(TaskOOMSchema, { containerId: e.containerId });
  }
}

/** Where events go. */
interface PublisherOptions {
  namespace: string;
  /** containerd's ttRPC socket (`TTRPC_ADDRESS`); a `unix://` prefix is tolerated. */
  ttrpcAddress?: string;
  /** containerd's gRPC address and binary, for the publish-binary fallback. */
  grpcAddress?: string;
  publishBinary?: string;
}

interface Queued {
  topic: string;
  event: Any;
  at: Date;
}

/** An ordered, retrying event queue. */
export class EventPublisher {
  readonly #queue: Queued[] = [];
  #running = false;
  #idle: Promise<void> = Promise.resolve();
  #markIdle: () => void = () => {};
  #transport: TtrpcTransport | undefined;
  #closed = false;

  constructor(readonly opts: PublisherOptions) {}

  /** Queues a runtime event. */
  publish(e: TaskEvent): void {
    this.publishAny(e.topic, encodeEvent(e));
  }

  /** Queues an already packed event. */
  publishAny(topic: string, event: Any): void {
    if (this.#closed) return;
    this.#queue.push({ topic, event, at: new Date() });
    if (!this.#running) {
      this.#running = true;
      this.#idle = new Promise((r) => (this.#markIdle = r));
      this.#drain();
    }
  }

  /** Resolves when the queue is empty, or after `timeoutMs`; returns whether it emptied. */
  async flush(timeoutMs: number): Promise<boolean> {
    return (await within(this.#idle, timeoutMs)) !== undefined;
  }

  /** Stops delivering (events still queued are dropped). */
  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
    this.#transport?.close();
  }

  async #drain(): Promise<void> {
    let delay = FIRST_RETRY_MS;
    while (this.#queue.length > 0 && !this.#closed) {
      const item = this.#queue[0];
      try {
        await this.#deliver(item);
        this.#queue.shift();
        delay = FIRST_RETRY_MS;
      } catch (e) {
        log.warn("publishing {topic} failed, retrying in {delay} ms: {error}", {
          topic: item.topic,
          delay,
          error: e instanceof Error ? e.message : String(e),
        });
        this.#transport?.close();
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, MAX_RETRY_MS);
      }
    }
    this.#running = false;
    this.#markIdle();
  }

  async #deliver(item: Queued): Promise<void> {
    const addr = this.opts.ttrpcAddress?.replace(/^unix:\/\//, "");
    if (addr) {
      this.#transport ??= createTtrpcTransport(() => connectUnix(addr));
      const client = createClient(Events, this.#transport);
      await client.forward(
        create(ForwardRequestSchema, {
          envelope: {
            timestamp: timestampFromDate(item.at),
            namespace: this.opts.namespace,
            topic: item.topic,
            event: item.event,
          },
        }),
        { timeoutMs: FORWARD_TIMEOUT_MS },
      );
      return;
    }
    if (this.opts.publishBinary) {
      const child = new Deno.Command(this.opts.publishBinary, {
        args: [
          "--address",
          this.opts.grpcAddress ?? "",
          "publish",
          "--topic",
          item.topic,
          "--namespace",
          this.opts.namespace,
        ],
        stdin: "piped",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const w = child.stdin.getWriter();
      await w.write(toBinary(AnySchema, item.event));
      await w.close();
      const out = await child.output();
      if (!out.success) {
        throw new UnavailableError(
          `${this.opts.publishBinary} publish exited with ${out.code}: ${
            new TextDecoder().decode(out.stderr).trim()
          }`,
        );
      }
      return;
    }
    log.info("event {topic} (no TTRPC_ADDRESS and no publish binary: logged only)", {
      topic: item.topic,
    });
  }
}
