/**
 * The client side of one ttRPC connection: odd stream ids from 1, many calls
 * in flight at once, responses matched by stream id in any order.
 * @module
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { getLogger } from "../common/log.ts";
import {
  decodeResponse,
  encodeRequestFrame,
  encodeRequestPrefix,
  type KeyValue,
} from "./envelope.ts";
import { type Frame, HEADER_SIZE, MAX_DATA_LENGTH, MessageType } from "./frame.ts";
import { FrameReader, type OversizedFrame } from "./frame_reader.ts";
import { FrameWriter } from "./frame_writer.ts";
import { errorFromStatus } from "./status.ts";

const log = getLogger("ttrpc.client");

/** The byte stream a client connection runs on (Deno.Conn satisfies it). */
export interface ClientConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
}

/** Options of one call. */
export interface CallOptions {
  /** Deadline in milliseconds; sent as timeout_nano and enforced locally. Undefined or <= 0: none. */
  timeoutMs?: number;
  /** Aborting rejects the call with Canceled (the server is not told, as in Go ttrpc). */
  signal?: AbortSignal;
  metadata?: readonly KeyValue[];
}

/** One call waiting for its response; settled once, by whichever comes first. */
class PendingCall {
  resolve: (payload: Uint8Array) => void;
  reject: (err: ConnectError) => void;
  /** Deadline timer, only for calls with a deadline. */
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The caller's signal and its listener, only for calls with a signal. */
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;

  constructor(resolve: (payload: Uint8Array) => void, reject: (err: ConnectError) => void) {
    this.resolve = resolve;
    this.reject = reject;
  }

  /** Drops the timer and the abort listener. */
  release(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.onAbort !== undefined) this.signal!.removeEventListener("abort", this.onAbort);
  }
}

const MAX_STREAM_ID = 0xffffffff;
const MAX_TIMER_MS = 0x7fffffff;
const NO_METADATA: readonly KeyValue[] = [];

/** Encoded service/method fields, reused by every call of a method (bounded: callers may pass any strings). */
const prefixes = new Map<string, Map<string, Uint8Array>>();
const MAX_CACHED_SERVICES = 256;
const MAX_CACHED_METHODS = 1024;

function requestPrefix(service: string, method: string): Uint8Array {
  const methods = prefixes.get(service);
  const cached = methods?.get(method);
  if (cached !== undefined) return cached;
  const prefix = encodeRequestPrefix(service, method);
  if (methods === undefined) {
    if (prefixes.size < MAX_CACHED_SERVICES) prefixes.set(service, new Map([[method, prefix]]));
  } else if (methods.size < MAX_CACHED_METHODS) {
    methods.set(method, prefix);
  }
  return prefix;
}

/** A client connection; after it breaks every call rejects with Unavailable. */
export class ClientConnection {
  #conn: ClientConn;
  #reader: FrameReader;
  #writer: FrameWriter;
  #nextId = 1;
  #pending = new Map<number, PendingCall>();
  #closed = false;
  #closeReason = "";

  constructor(conn: ClientConn) {
    this.#conn = conn;
    this.#reader = new FrameReader(conn);
    this.#writer = new FrameWriter(conn, (err) => {
      this.#shutdown(`write failed: ${err instanceof Error ? err.message : String(err)}`);
    });
    this.#readLoop();
  }

  /** True once the connection is closed or broken. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sends one unary request and resolves with the response payload. */
  call(service: string, method: string, payload: Uint8Array, opts: CallOptions = {}): Promise<
    Uint8Array
  > {
    if (this.#closed) return Promise.reject(this.#unavailable());
    if (opts.signal?.aborted) return Promise.reject(canceled(opts.signal));
    const timeoutMs = opts.timeoutMs !== undefined && opts.timeoutMs > 0
      ? opts.timeoutMs
      : undefined;
    const id = this.#nextId;
    if (id > MAX_STREAM_ID) {
      return Promise.reject(
        new ConnectError("ttrpc stream ids exhausted on this connection", Code.ResourceExhausted),
      );
    }
    const frame = encodeRequestFrame(
      id,
      MessageType.Request,
      requestPrefix(service, method),
      payload,
      timeoutMs === undefined ? 0 : Math.round(timeoutMs * 1e6),
      opts.metadata ?? NO_METADATA,
    );
    if (frame.length - HEADER_SIZE > MAX_DATA_LENGTH) {
      return Promise.reject(
        new ConnectError(
          `message length ${
            frame.length - HEADER_SIZE
          } exceed maximum message size of ${MAX_DATA_LENGTH}`,
          Code.ResourceExhausted,
        ),
      );
    }
    this.#nextId += 2;
    return new Promise<Uint8Array>((resolve, reject) => {
      const pending = new PendingCall(resolve, reject);
      this.#pending.set(id, pending);
      if (timeoutMs !== undefined && timeoutMs <= MAX_TIMER_MS) {
        pending.timer = setTimeout(() => {
          if (!this.#settle(id)) return;
          reject(
            new ConnectError(
              `${service}/${method}: context deadline exceeded`,
              Code.DeadlineExceeded,
            ),
          );
        }, timeoutMs);
      }
      const signal = opts.signal;
      if (signal !== undefined) {
        pending.signal = signal;
        pending.onAbort = () => {
          if (this.#settle(id)) reject(canceled(signal));
        };
        signal.addEventListener("abort", pending.onAbort, { once: true });
      }
      this.#writer.write(frame);
    });
  }

  /** Removes a pending call and releases its timer and listener; false if it was already settled. */
  #settle(id: number): PendingCall | undefined {
    const pending = this.#pending.get(id);
    if (pending === undefined) return undefined;
    this.#pending.delete(id);
    pending.release();
    return pending;
  }

  /** Closes the connection; pending calls reject with Unavailable. */
  close(): void {
    this.#shutdown("closed by the client");
  }

  async #readLoop(): Promise<void> {
    let reason = "closed by the peer";
    try {
      const reader = this.#reader;
      while (!this.#closed) {
        // Every complete frame of one read is dispatched before reading again.
        let frame;
        while (!this.#closed && (frame = reader.poll()) !== undefined) this.#onFrame(frame);
        if (this.#closed || !await reader.readMore()) break;
      }
    } catch (err) {
      reason = err instanceof Error ? err.message : String(err);
    }
    this.#shutdown(reason);
  }

  #onFrame(frame: Frame | OversizedFrame): void {
    if ("oversized" in frame) {
      this.#settle(frame.streamId)?.reject(
        new ConnectError(
          `message length ${frame.length} exceed maximum message size of ${MAX_DATA_LENGTH}`,
          Code.ResourceExhausted,
        ),
      );
      return;
    }
    // Data is never expected on unary calls; a late answer to a cancelled or timed-out call has no entry.
    if (frame.type !== MessageType.Response) return;
    const pending = this.#settle(frame.streamId);
    if (pending === undefined) return;
    try {
      const res = decodeResponse(frame.data);
      if (res.status && res.status.code !== 0) pending.reject(errorFromStatus(res.status));
      else pending.resolve(res.payload);
    } catch (err) {
      pending.reject(
        new ConnectError(
          `Cannot decode ttrpc response: ${err instanceof Error ? err.message : String(err)}`,
          Code.Internal,
        ),
      );
    }
  }

  #shutdown(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    if (this.#pending.size > 0) {
      log.debug("ttrpc connection lost with {count} calls pending: {reason}", {
        count: this.#pending.size,
        reason,
      });
    }
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) {
      p.release();
      p.reject(this.#unavailable());
    }
  }

  #unavailable(): ConnectError {
    return new ConnectError(`ttrpc connection closed: ${this.#closeReason}`, Code.Unavailable);
  }
}

function canceled(signal: AbortSignal): ConnectError {
  if (signal.reason instanceof ConnectError) return signal.reason;
  return new ConnectError(
    "ttrpc call canceled",
    Code.Canceled,
    undefined,
    undefined,
    signal.reason,
  );
}
