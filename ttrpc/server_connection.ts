/**
 * One accepted ttRPC connection on the server side: reads frames, validates
 * stream ids the way Go ttrpc does, runs each request's handler concurrently
 * and writes responses as they finish (out of order).
 * @module
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { getLogger } from "../common/log.ts";
import { decodeRequest, encodeResponseFrame, type RequestEnvelope } from "./envelope.ts";
import { type Frame, HEADER_SIZE, MAX_DATA_LENGTH, MessageType } from "./frame.ts";
import { FrameReader, type OversizedFrame } from "./frame_reader.ts";
import { FrameWriter } from "./frame_writer.ts";
import { CallCancellation, TtrpcHandlerContext } from "./handler_context.ts";
import { statusFromError } from "./status.ts";

const log = getLogger("ttrpc.server");

/** The byte stream a server connection runs on (Deno.Conn satisfies it). */
export interface ServerConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
}

/** A registered unary handler. */
interface MethodEntry {
  method: DescMethod;
  // deno-lint-ignore no-explicit-any
  handler: (request: any, ctx: TtrpcHandlerContext) => unknown;
}

/** Registered methods: service full name -> method name -> entry (undefined when not implemented). */
export type ServiceTable = Map<string, MethodTable | (() => Promise<MethodTable>)>;
/** One service's methods by name (undefined: declared but not implemented). */
export type MethodTable = Map<string, MethodEntry | undefined>;

const EMPTY = new Uint8Array(0);

const COMPLETED = new ConnectError("ttrpc call completed", Code.Canceled);

/** Envelope bytes around a large payload: empty status (2), tag (1), 4-byte length varint. */
const RESPONSE_OVERHEAD = 7;

/** Longest delay setTimeout supports; longer deadlines are treated as none. */
const MAX_TIMER_MS = 0x7fffffff;

/** Serves one connection until the peer closes it, it breaks, or `close()` is called. */
export class ServerConnection {
  #conn: ServerConn;
  #services: ServiceTable;
  #reader: FrameReader;
  #writer: FrameWriter;
  #lastStreamId = 0;
  #active = new Map<number, CallCancellation>();
  #closed = false;
  #draining = false;
  #done: Promise<void>;
  #resolveDone!: () => void;

  constructor(conn: ServerConn, services: ServiceTable) {
    this.#conn = conn;
    this.#services = services;
    this.#reader = new FrameReader(conn);
    this.#writer = new FrameWriter(conn, (err) => {
      log.debug("ttrpc write failed: {error}", { error: String(err) });
      this.close();
    });
    this.#done = new Promise((resolve) => this.#resolveDone = resolve);
  }

  /** Number of requests whose response has not been written yet. */
  get activeRequests(): number {
    return this.#active.size;
  }

  /** Resolves once the connection is closed. */
  get done(): Promise<void> {
    return this.#done;
  }

  /** Runs the read loop; resolves when the connection is finished (never rejects). */
  async serve(): Promise<void> {
    try {
      const reader = this.#reader;
      while (!this.#closed) {
        // Every complete frame of one read is dispatched before reading again.
        let frame;
        while (!this.#closed && (frame = reader.poll()) !== undefined) this.#onFrame(frame);
        if (this.#closed || !await reader.readMore()) break;
      }
    } catch (err) {
      // A broken frame or a socket error ends this connection only.
      if (!this.#closed) log.debug("ttrpc connection closed: {error}", { error: String(err) });
    } finally {
      this.close();
    }
  }

  /** Stops taking new requests and closes once in-flight responses are written. */
  drain(): void {
    this.#draining = true;
    if (this.#active.size === 0) this.close();
  }

  /** Closes the socket and cancels every running handler. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const reason = new ConnectError("ttrpc connection closed", Code.Canceled);
    for (const controller of this.#active.values()) controller.abort(reason);
    this.#active.clear();
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer or by a failed read.
    }
    this.#resolveDone();
  }

  #onFrame(frame: Frame | OversizedFrame): void {
    const id = frame.streamId;
    if ("oversized" in frame) {
      this.#sendStatus(
        id,
        Code.ResourceExhausted,
        `message length ${frame.length} exceed maximum message size of ${MAX_DATA_LENGTH}`,
      );
      return;
    }
    if (frame.type === MessageType.Request) {
      this.#onRequest(frame);
    } else if (frame.type === MessageType.Data) {
      // Every method served here is unary, so no stream ever takes data.
      if (!this.#active.has(id)) {
        this.#sendStatus(id, Code.InvalidArgument, "StreamID is no longer active");
      }
    }
    // Other types are ignored, leaving room for protocol additions (as Go ttrpc does).
  }

  #onRequest(frame: Frame): void {
    const id = frame.streamId;
    if (id % 2 !== 1) {
      this.#sendStatus(
        id,
        Code.InvalidArgument,
        "StreamID must be odd for client initiated streams",
      );
      return;
    }
    if (id <= this.#lastStreamId) {
      this.#sendStatus(id, Code.InvalidArgument, "StreamID cannot be re-used and must increment");
      return;
    }
    this.#lastStreamId = id;
    let req: RequestEnvelope;
    try {
      req = decodeRequest(frame.data);
    } catch (err) {
      this.#sendStatus(id, Code.InvalidArgument, `unmarshal request error: ${messageOf(err)}`);
      return;
    }
    if (this.#draining) {
      this.#sendStatus(id, Code.Unavailable, "ttrpc server is shutting down");
      return;
    }
    const cancellation = new CallCancellation();
    this.#active.set(id, cancellation);
    this.#handle(id, req, cancellation);
  }

  async #handle(id: number, req: RequestEnvelope, cancellation: CallCancellation): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let response: Uint8Array;
    try {
      const entry = await this.#resolve(req);
      let request: unknown;
      try {
        request = fromBinary(entry.method.input, req.payload);
      } catch (err) {
        throw new ConnectError(
          `ttrpc: error unmarshalling payload: ${messageOf(err)}`,
          Code.Internal,
        );
      }
      let deadline: number | undefined;
      if (req.timeoutNano !== 0) {
        const ms = req.timeoutNano / 1e6;
        deadline = Date.now() + ms;
        const expire = () =>
          cancellation.abort(new ConnectError("context deadline exceeded", Code.DeadlineExceeded));
        if (ms <= 0) expire();
        else if (ms <= MAX_TIMER_MS) timer = setTimeout(expire, ms);
      }
      const ctx = new TtrpcHandlerContext(entry.method, cancellation, deadline, req.metadata);
      let out = entry.handler(request, ctx);
      // A handler that answers synchronously is not awaited: its response goes out in this turn.
      if (isPromiseLike(out)) out = await out;
      // Handlers may return a plain init object, as connect allows.
      const payload = toBinary(entry.method.output, asMessage(entry.method, out));
      // Checked before building the envelope: Go refuses to send such a frame and answers with this status.
      if (payload.length + RESPONSE_OVERHEAD > MAX_DATA_LENGTH) {
        throw new ConnectError(
          `message length ${
            payload.length + RESPONSE_OVERHEAD
          } exceed maximum message size of ${MAX_DATA_LENGTH}`,
          Code.ResourceExhausted,
        );
      }
      response = encodeResponseFrame(id, MessageType.Response, undefined, payload);
    } catch (err) {
      const status = statusFromError(err);
      response = encodeResponseFrame(id, MessageType.Response, status, EMPTY);
      if (response.length - HEADER_SIZE > MAX_DATA_LENGTH) {
        // Only an error message of megabytes gets here; keep the code, drop the text.
        response = encodeResponseFrame(id, MessageType.Response, {
          code: status.code,
          message: "error message too long to send",
          details: [],
        }, EMPTY);
      }
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
    if (this.#closed) return;
    this.#active.delete(id);
    this.#write(response);
    // connect's contract: the signal also fires when the call completes.
    cancellation.abort(COMPLETED);
    if (this.#draining && this.#active.size === 0) {
      // Let the queued response reach the socket before closing it.
      this.#writer.flushed().then(() => this.close());
    }
  }

  async #resolve(req: RequestEnvelope): Promise<MethodEntry> {
    const found = this.#services.get(req.service);
    if (!found) throw new ConnectError(`service ${req.service}`, Code.Unimplemented);
    // A service registered lazily loads on its first call (the server caches the result).
    const methods = typeof found === "function" ? await found() : found;
    const entry = methods.get(req.method);
    if (!entry) throw new ConnectError(`method ${req.method}`, Code.Unimplemented);
    if (entry.method.methodKind !== "unary") {
      throw new ConnectError(
        `method ${req.method}: streaming rpcs are not supported by this ttrpc server`,
        Code.Unimplemented,
      );
    }
    return entry;
  }

  #sendStatus(id: number, code: Code, message: string): void {
    this.#write(
      encodeResponseFrame(id, MessageType.Response, { code, message, details: [] }, EMPTY),
    );
  }

  #write(frame: Uint8Array): void {
    this.#writer.write(frame);
  }
}

// deno-lint-ignore no-explicit-any
function asMessage(method: DescMethod, out: unknown): any {
  // deno-lint-ignore no-explicit-any
  return create(method.output, out as any);
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
