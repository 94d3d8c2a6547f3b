/**
 * ttRPC server: dispatches `service`/`method` of each request to handler
 * objects typed with connect's `ServiceImpl`, on any number of listeners and
 * connections.
 * @module
 */
import type { DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { AlreadyExistsError, FailedPreconditionError } from "../common/errors.ts";
import { getLogger } from "../common/log.ts";
import {
  type MethodTable,
  type ServerConn,
  ServerConnection,
  type ServiceTable,
} from "./server_connection.ts";

const log = getLogger("ttrpc.server");

/** Anything that accepts connections (Deno.Listener for unix, vsock or tcp satisfies it). */
export interface ConnListener {
  accept(): Promise<ServerConn>;
  close(): void;
}

/** A ttRPC server. Methods missing from a registered implementation answer Unimplemented. */
export class TtrpcServer {
  #services: ServiceTable = new Map();
  #listeners = new Set<ConnListener>();
  #connections = new Set<ServerConnection>();
  #closing = false;

  /**
   * Registers the implementation of one service (its full proto name is the dispatch key).
   * @throws {AlreadyExistsError} when the service is registered twice
   */
  register<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): this {
    this.#claim(service.typeName);
    this.#services.set(service.typeName, methodTable(service, impl));
    return this;
  }

  /**
   * Registers service `typeName` whose descriptor and implementation `load`
   * brings on its first call (once, for every connection), so a service few
   * clients use costs the server's start-up nothing.
   * @throws {AlreadyExistsError} when the service is registered twice
   */
  registerLazy<S extends DescService>(
    typeName: string,
    load: () => Promise<{ service: S; impl: Partial<ServiceImpl<S>> }>,
  ): this {
    this.#claim(typeName);
    let loading: Promise<MethodTable> | undefined;
    this.#services.set(typeName, () =>
      loading ??= load().then(({ service, impl }) => {
        if (service.typeName !== typeName) {
          throw new FailedPreconditionError(
            `Cannot serve ttrpc service ${typeName}: its loader brought ${service.typeName}`,
          );
        }
        const table = methodTable(service, impl);
        this.#services.set(typeName, table);
        return table;
      }));
    return this;
  }

  #claim(typeName: string): void {
    if (this.#services.has(typeName)) {
      throw new AlreadyExistsError(
        `Cannot register ttrpc service ${typeName}: already registered`,
      );
    }
  }

  /** Accepts connections from `listener` until it is closed or the server closes. */
  async serve(listener: ConnListener): Promise<void> {
    if (this.#closing) {
      throw new FailedPreconditionError("Cannot serve: the ttrpc server is closed");
    }
    this.#listeners.add(listener);
    try {
      while (!this.#closing) {
        let conn: ServerConn;
        try {
          conn = await listener.accept();
        } catch (err) {
          if (this.#closing || err instanceof Deno.errors.BadResource) break;
          log.warn("ttrpc accept failed: {error}", { error: String(err) });
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        this.handleConnection(conn);
      }
    } finally {
      this.#listeners.delete(listener);
    }
  }

  /** Serves one already-established connection; resolves when it ends. */
  handleConnection(conn: ServerConn): Promise<void> {
    if (this.#closing) {
      conn.close();
      return Promise.resolve();
    }
    const connection = new ServerConnection(conn, this.#services);
    this.#connections.add(connection);
    return connection.serve().finally(() => this.#connections.delete(connection));
  }

  /** Number of open connections. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /**
   * Graceful stop: closes the listeners, refuses new requests (Unavailable),
   * and closes each connection once its in-flight responses are written.
   * Do not await it inside a handler (it waits for that handler's reply):
   * call it after the handler returned, e.g. from the code the handler signals.
   */
  async shutdown(): Promise<void> {
    this.#closing = true;
    this.#closeListeners();
    const done = [...this.#connections].map((c) => c.done);
    for (const c of this.#connections) c.drain();
    await Promise.all(done);
  }

  /** Immediate stop: closes listeners and connections and cancels running handlers. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#closeListeners();
    const done = [...this.#connections].map((c) => c.done);
    for (const c of this.#connections) c.close();
    await Promise.all(done);
  }

  #closeListeners(): void {
    for (const l of this.#listeners) {
      try {
        l.close();
      } catch {
        // Already closed.
      }
    }
    this.#listeners.clear();
  }
}

function methodTable<S extends DescService>(
  service: S,
  impl: Partial<ServiceImpl<S>>,
): MethodTable {
  const methods: MethodTable = new Map();
  for (const method of service.methods) {
    const fn = (impl as Record<string, unknown>)[method.localName];
    methods.set(
      method.name,
      typeof fn === "function" ? { method, handler: fn.bind(impl) } : undefined,
    );
  }
  return methods;
}
