/**
 * A connect `Transport` over ttRPC, so callers get typed clients from
 * `createClient(Service, transport)`.
 * @module
 */
import {
  create,
  type DescMessage,
  type DescMethodStreaming,
  type DescMethodUnary,
  type DescService,
  fromBinary,
  type MessageInitShape,
  toBinary,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type StreamResponse,
  type Transport,
  type UnaryResponse,
} from "@connectrpc/connect";
import { InternalError } from "../common/errors.ts";
import { type ClientConn, ClientConnection } from "./client_connection.ts";
import type { KeyValue } from "./envelope.ts";
import { headersToMetadata } from "./metadata.ts";

/** Opens a new connection; used to connect lazily and to reconnect after a break. */
export type ConnFactory = () => Promise<ClientConn>;

/** Options of a ttRPC transport. */
export interface TtrpcTransportOptions {
  /** Deadline for calls that set none (milliseconds); none by default. */
  defaultTimeoutMs?: number;
  /** Metadata sent with every call before the call's own headers (e.g. the containerd namespace). */
  metadata?: readonly KeyValue[];
}

/** A connect Transport that owns a ttRPC connection. */
export interface TtrpcTransport extends Transport {
  /** Closes the current connection; with a factory, the next call reconnects. */
  close(): void;
}

/** ttRPC responses carry no headers; the Headers objects are only made if asked for. */
class TtrpcUnaryResponse {
  readonly stream = false;
  readonly service: DescService;
  readonly method: DescMethodUnary;
  readonly message: unknown;

  constructor(method: DescMethodUnary, message: unknown) {
    this.service = method.parent;
    this.method = method;
    this.message = message;
  }

  get header(): Headers {
    return new Headers();
  }

  get trailer(): Headers {
    return new Headers();
  }
}

/**
 * Creates a transport on one established connection (calls fail with
 * Unavailable once it breaks) or on a factory (connects on first use and
 * again after a break).
 */
export function createTtrpcTransport(
  conn: ClientConn | ConnFactory,
  opts: TtrpcTransportOptions = {},
): TtrpcTransport {
  let current: ClientConnection | undefined;
  let connecting: Promise<ClientConnection> | undefined;
  if (typeof conn !== "function") current = new ClientConnection(conn);
  const factory = typeof conn === "function" ? conn : undefined;
  const baseMetadata = opts.metadata ?? [];
  let closes = 0;

  function connection(): ClientConnection | Promise<ClientConnection> {
    if (current && (!current.closed || !factory)) return current;
    if (!factory) throw new InternalError("Unreachable: transport without a connection");
    const generation = closes;
    connecting ??= factory().then(
      (c) => {
        connecting = undefined;
        if (generation !== closes) {
          // close() was called while dialing: do not keep a connection nobody will close.
          c.close();
          throw new ConnectError("ttrpc transport closed while connecting", Code.Unavailable);
        }
        current = new ClientConnection(c);
        return current;
      },
      (err) => {
        connecting = undefined;
        throw new ConnectError(
          `Cannot connect ttrpc transport: ${err instanceof Error ? err.message : String(err)}`,
          Code.Unavailable,
          undefined,
          undefined,
          err,
        );
      },
    );
    return connecting;
  }

  return {
    async unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: MessageInitShape<I>,
    ): Promise<UnaryResponse<I, O>> {
      const payload = toBinary(method.input, create(method.input, input));
      let metadata = baseMetadata;
      if (header !== undefined) {
        const extra = headersToMetadata(header);
        if (extra.length) metadata = [...baseMetadata, ...extra];
      }
      const c = current !== undefined && !current.closed ? current : await connection();
      const out = await c.call(method.parent.typeName, method.name, payload, {
        timeoutMs: timeoutMs ?? opts.defaultTimeoutMs,
        signal,
        metadata,
      });
      let message;
      try {
        message = fromBinary(method.output, out);
      } catch (err) {
        throw new ConnectError(
          `Cannot decode response of ${method.parent.typeName}/${method.name}: ${
            err instanceof Error ? err.message : String(err)
          }`,
          Code.Internal,
        );
      }
      return new TtrpcUnaryResponse(method, message) as UnaryResponse<I, O>;
    },

    stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
    ): Promise<StreamResponse<I, O>> {
      return Promise.reject(
        new ConnectError(
          `${method.parent.typeName}/${method.name}: streaming rpcs are not supported by this ttrpc client`,
          Code.Unimplemented,
        ),
      );
    },

    close(): void {
      closes++;
      current?.close();
    },
  };
}
