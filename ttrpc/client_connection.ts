/**
 * The client side of one ttRPC connection: odd stream ids from 1, many calls
 * in flight at once, responses matched by stream id in any order.
 * @module
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { getLogger } from "../common/log.ts";
import { decodeResponse, encodeRequest, type KeyValue } from "./envelope.ts";
import { encodeFrame, type Frame, MAX_DATA_LENGTH, MessageType } from "./frame.ts";
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

interface PendingCall {
  resolve: (payload: Uint8Array) => void;
  reject: (err: ConnectError) => void;
}

const MAX_STREAM_ID = 0xffffffff;
const MAX_TIMER_MS = 0x7fffffff;

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
    const request = encodeRequest({
      service,
      method,
      payload,
      timeoutNano: timeoutMs === undefined ? 0 : Math.round(timeoutMs * 1e6),
      metadata: opts.metadata ? [...opts.metadata] : [],
    });
    if (request.length > MAX_DATA_LENGTH) {
      return Promise.reject(
        new ConnectError(
          `message length ${request.length} exceed maximum message size of ${MAX_DATA_LENGTH}`,
          Code.ResourceExhausted,
        ),
      );
    }
    const id = this.#nextId;
    if (id > MAX_STREAM_ID) {
      return Promise.reject(
        new ConnectError("ttrpc stream ids exhausted on this connection", Code.ResourceExhausted),
      );
    }
    this.#nextId += 2;
    return new Promise<Uint8Array>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = () => finish(() => reject(canceled(opts.signal!)));
      const finish = (settle: () => void) => {
        if (!this.#pending.delete(id)) return;
        if (timer !== undefined) clearTimeout(timer);
        opts.signal?.removeEventListener("abort", onAbort);
        settle();
      };
      this.#pending.set(id, {
        resolve: (p) => finish(() => resolve(p)),
        reject: (e) => finish(() => reject(e)),
      });
      if (timeoutMs !== undefined && timeoutMs <= MAX_TIMER_MS) {
        timer = setTimeout(
          () =>
            finish(() =>
              reject(
                new ConnectError(
                  `${service}/${method}: context deadline exceeded`,
                  Code.DeadlineExceeded,
                ),
              )
            ),
          timeoutMs,
        );
      }
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      this.#writer.write(encodeFrame(id, MessageType.Request, request));
    });
  }

  /** Closes the connection; pending calls reject with Unavailable. */
  close(): void {
    this.#shutdown("closed by the client");
  }

  async #readLoop(): Promise<void> {
    let reason = "closed by the peer";
    try {
      while (!this.#closed) {
        const frame = await this.#reader.next();
        if (frame === null) break;
        this.#onFrame(frame);
      }
    } catch (err) {
      reason = err instanceof Error ? err.message : String(err);
    }
    this.#shutdown(reason);
  }

  #onFrame(frame: Frame | OversizedFrame): void {
    const pending = this.#pending.get(frame.streamId);
    if (!pending) return; // Late answer to a cancelled or timed-out call.
    if ("oversized" in frame) {
      pending.reject(
        new ConnectError(
          `message length ${frame.length} exceed maximum message size of ${MAX_DATA_LENGTH}`,
          Code.ResourceExhausted,
        ),
      );
      return;
    }
    if (frame.type !== MessageType.Response) return; // Data is never expected on unary calls.
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
    for (const p of [...this.#pending.values()]) p.reject(this.#unavailable());
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
