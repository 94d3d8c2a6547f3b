/**
 * The HandlerContext given to ttRPC handlers. It is built for every call, so
 * the parts few handlers use (headers, context values) are created lazily.
 * @module
 */
import { type ContextValues, createContextValues, type HandlerContext } from "@connectrpc/connect";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { KeyValue } from "./envelope.ts";
import { metadataKey, metadataToHeaders } from "./metadata.ts";

/** Per-call context: method, deadline, cancellation signal and request metadata. */
export class TtrpcHandlerContext implements HandlerContext {
  readonly method: DescMethod;
  readonly service: DescService;
  readonly signal: AbortSignal;
  readonly requestMethod = "POST";
  readonly protocolName = "ttrpc";
  readonly url: string;
  #deadline: number | undefined;
  #metadata: readonly KeyValue[];
  #requestHeader?: Headers;
  #responseHeader?: Headers;
  #responseTrailer?: Headers;
  #values?: ContextValues;

  constructor(
    method: DescMethod,
    signal: AbortSignal,
    deadline: number | undefined,
    metadata: readonly KeyValue[],
  ) {
    this.method = method;
    this.service = method.parent;
    this.signal = signal;
    this.url = `/${method.parent.typeName}/${method.name}`;
    this.#deadline = deadline;
    this.#metadata = metadata;
  }

  /** Milliseconds left before the client's deadline; undefined without one. */
  timeoutMs = (): number | undefined =>
    this.#deadline === undefined ? undefined : this.#deadline - Date.now();

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
