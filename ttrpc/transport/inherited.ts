/**
 * A Unix listener on an inherited, already listening socket fd: `start`
 * binds the shim's socket and hands it to the server it spawns (the Go shims'
 * pattern), so connections made before the server is up wait in the
 * socket's backlog instead of failing. Deno's own `Deno.listen` cannot adopt
 * an fd; Deno's `node:net` can (`server.listen({ fd })`), so connections are
 * node sockets here, adapted to the read/write/close shape the ttRPC server
 * uses.
 * @module
 */
import type { Server, Socket } from "./node_net.d.ts";
import type { ServerConn } from "../server_connection.ts";
import type { ConnListener } from "../server.ts";

/**
 * `node:net`, imported by a computed specifier: a literal `node:` import makes
 * `deno test`'s type check look for `@types/node`, which is not a dependency
 * of this project (./node_net.d.ts declares the subset used here).
 */
const NODE_NET = ["node", "net"].join(":");

/** Bytes queued from a connection before it is paused (the reader is behind). */
const HIGH_WATER = 1 << 20;

/** One accepted node socket as a {@link ServerConn}. */
class SocketConn implements ServerConn {
  #sock: Socket;
  #chunks: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  constructor(sock: Socket) {
    this.#sock = sock;
    sock.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#queued += chunk.length;
      if (this.#queued > HIGH_WATER) sock.pause();
      this.#notify();
    });
    sock.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    sock.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
    sock.on("error", (e: Error) => {
      this.#error = e;
      this.#notify();
    });
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((r) => (this.#wake = r));
    }
    const head = this.#chunks[0];
    const n = Math.min(p.length, head.length);
    p.set(n === head.length ? head : head.subarray(0, n));
    if (n === head.length) this.#chunks.shift();
    else this.#chunks[0] = head.subarray(n);
    this.#queued -= n;
    if (this.#queued <= HIGH_WATER && this.#sock.isPaused()) this.#sock.resume();
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#sock.write(p)) return Promise.resolve(p.length);
    return new Promise((resolve, reject) => {
      const done = () => {
        this.#sock.off("close", gone);
        resolve(p.length);
      };
      const gone = () => {
        this.#sock.off("drain", done);
        reject(this.#error ?? new Error("Cannot write: the connection closed"));
      };
      this.#sock.once("drain", done);
      this.#sock.once("close", gone);
    });
  }

  close(): void {
    this.#sock.destroy();
  }
}

/** A listener over a node server, accepting in order. */
class InheritedListener implements ConnListener {
  #server: Server;
  #pending: Socket[] = [];
  #waiters: { resolve: (c: ServerConn) => void; reject: (e: Error) => void }[] = [];
  #closed = false;

  constructor(server: Server) {
    this.#server = server;
    server.on("connection", (sock: Socket) => {
      const w = this.#waiters.shift();
      if (w) w.resolve(new SocketConn(sock));
      else this.#pending.push(sock);
    });
  }

  accept(): Promise<ServerConn> {
    const sock = this.#pending.shift();
    if (sock) return Promise.resolve(new SocketConn(sock));
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("Listener is closed"));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    for (const s of this.#pending.splice(0)) s.destroy();
    for (const w of this.#waiters.splice(0)) {
      w.reject(new Deno.errors.BadResource("Listener is closed"));
    }
  }
}

/**
 * Serves connections of the listening Unix socket at `fd` (inherited from
 * the parent). The caller should make the fd close-on-exec first, so that
 * processes it spawns do not keep the socket alive.
 */
export async function listenInheritedFd(fd: number): Promise<ConnListener> {
  const { createServer } = await import(NODE_NET) as typeof import("./node_net.d.ts");
  const server = createServer({ allowHalfOpen: false });
  return await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ fd }, () => {
      server.off("error", reject);
      resolve(new InheritedListener(server));
    });
  });
}
