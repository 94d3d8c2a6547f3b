/**
 * The HandlerContext given to ttRPC handlers. It is built for every call, so
 * the parts few handlers use (headers, context values) are created lazily.
 * @module
 */
import { type ContextValues, createContextValues, type HandlerContext } from "@connectrpc/connect";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { KeyValue } from "./envelope.ts";
import { metadataKey, metadataToHeaders } from "./metadata.ts";

/**
 * Cancellation of one call. The AbortController behind the signal is only
 * made if a handler looks at the signal; most never do.
 */
export class CallCancellation {
  #controller?: AbortController;
  #aborted = false;
  #reason: unknown;

  /** The signal handed to the handler. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** True once aborted. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** Aborts the call (first reason wins). */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}

/** Per-call context: method, deadline, cancellation signal and request metadata. */
export class TtrpcHandlerContext implements HandlerContext {
  readonly method: DescMethod;
  readonly service: DescService;
  readonly requestMethod = "POST";
  readonly protocolName = "ttrpc";
  #cancellation: CallCancellation;
  #deadline: number | undefined;
  #metadata: readonly KeyValue[];
  #requestHeader?: Headers;
  #responseHeader?: Headers;
  #responseTrailer?: Headers;
  #values?: ContextValues;

  constructor(
    method: DescMethod,
    cancellation: CallCancellation,
    deadline: number | undefined,
    metadata: readonly KeyValue[],
  ) {
    this.method = method;
    this.service = method.parent;
    this.#cancellation = cancellation;
    this.#deadline = deadline;
    this.#metadata = metadata;
  }

  /** The call's path, as connect would have it; made only when asked for. */
  get url(): string {
    return `/${this.method.parent.typeName}/${this.method.name}`;
  }

  /** Milliseconds left before the client's deadline; undefined without one. */
  timeoutMs(): number | undefined {
    return this.#deadline === undefined ? undefined : this.#deadline - Date.now();
  }

  /** The raw request metadata (also in `values` under metadataKey). */
  get metadata(): readonly KeyValue[] {
    return this.#metadata;
  }

  get signal(): AbortSignal {
    return this.#cancellation.signal;
  }

  get requestHeader(): Headers {
    return this.#requestHeader ??= metadataToHeaders(this.#metadata);
  }

  /** Accepted for API compatibility; ttRPC responses carry no headers. */
  get responseHeader(): Headers {
    return this.#responseHeader ??= new Headers();
  }

  /** Accepted for API compatibility; ttRPC responses carry no trailers. */
  get responseTrailer(): Headers {
    return this.#responseTrailer ??= new Headers();
  }

  get values(): ContextValues {
    if (!this.#values) {
      this.#values = createContextValues();
      this.#values.set(metadataKey, this.#metadata);
    }
    return this.#values;
  }
}
