/**
 * The shim's management socket, `/run/kata/<sandbox-id>/shim-monitor.sock`
 * (runtime-rs's shim-mgmt): HTTP/1.1 over a Unix socket with upstream's
 * routes, which kata-monitor and `kata-ctl` use:
 *
 * - `GET /metrics` — Prometheus text (shim, hypervisor, guest);
 * - `GET /agent-url` — the agent's address (`vsock://…`, `hvsock://…`);
 * - `GET /direct-volume/stats?path=<volume path>` — the agent's volume stats as JSON;
 * - `POST /direct-volume/resize` with `{"volume_path": …, "size": …}`.
 *
 * Every failure is answered with a status and a one-line message; bodies over
 * {@link MAX_BODY_BYTES} are refused unread, so no request can take the shim down.
 * @module
 */
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
  UnimplementedError,
} from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";

const log = getLogger("runtimes.monitor");

/** The socket's file name inside the sandbox's state directory (upstream's name). */
const MONITOR_SOCKET_NAME = "shim-monitor.sock";

/** Largest request body accepted (a resize request is a few dozen bytes). */
const MAX_BODY_BYTES = 64 * 1024;

/** The socket path for a sandbox state directory. */
export function monitorSocketPath(sandboxDir: string): string {
  return `${sandboxDir}/${MONITOR_SOCKET_NAME}`;
}

/** What the routes ask of the sandbox. */
export interface MonitorBackend {
  /** The full exposition text for `/metrics`. */
  metrics(): Promise<string>;
  /** The agent's address. */
  agentUrl(): string;
  /** Volume stats of the direct volume registered for `volumePath`, as JSON-able data. */
  volumeStats(volumePath: string): Promise<unknown>;
  /** Grows the direct volume registered for `volumePath` to `size` bytes. */
  resizeVolume(volumePath: string, size: number): Promise<void>;
}

function text(status: number, body: string, type = "text/plain; charset=utf-8"): Response {
  return new Response(body.endsWith("\n") ? body : body + "\n", {
    status,
    headers: { "content-type": type },
  });
}

function statusOf(e: unknown): number {
  if (e instanceof InvalidArgumentError) return 400;
  if (e instanceof NotFoundError) return 404;
  if (e instanceof FailedPreconditionError) return 409;
  if (e instanceof UnimplementedError) return 501;
  if (e instanceof UnavailableError) return 503;
  return 500;
}

/** Reads at most `limit` bytes of the body; throws a 413-mapped error beyond it. */
async function readBody(req: Request, limit: number): Promise<string> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) throw new BodyTooLarge(Number(declared));
  if (!req.body) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLarge(total);
    }
    chunks.push(value);
  }
  const all = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  return new TextDecoder("utf-8", { fatal: true }).decode(all);
}

class BodyTooLarge extends Error {
  readonly code = "ResourceExhausted";
  constructor(readonly size: number) {
    super(`Request body of ${size} bytes exceeds the limit of ${MAX_BODY_BYTES} bytes`);
  }
}

function parseResize(body: string): { volumePath: string; size: number } {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch (e) {
    throw new InvalidArgumentError(`Resize request is not JSON: ${(e as Error).message}`);
  }
  const o = v as { volume_path?: unknown; size?: unknown };
  if (typeof v !== "object" || v === null || typeof o.volume_path !== "string" || !o.volume_path) {
    throw new InvalidArgumentError(
      `Resize request needs a string "volume_path", got ${body.slice(0, 200)}`,
    );
  }
  if (typeof o.size !== "number" || !Number.isSafeInteger(o.size) || o.size <= 0) {
    throw new InvalidArgumentError(
      `Resize request needs a positive integer "size", got ${String(o.size)}`,
    );
  }
  return { volumePath: o.volume_path, size: o.size };
}

/** Answers one request (the server's handler; tests call it directly). */
async function handleMonitorRequest(req: Request, b: MonitorBackend): Promise<Response> {
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    return text(400, `Invalid request URL ${req.url}`);
  }
  const route = `${req.method} ${url.pathname}`;
  try {
    switch (url.pathname) {
      case "/metrics":
        if (req.method !== "GET") break;
        return text(200, await b.metrics(), "text/plain; version=0.0.4; charset=utf-8");
      case "/agent-url":
        if (req.method !== "GET") break;
        return text(200, b.agentUrl());
      case "/direct-volume/stats": {
        if (req.method !== "GET") break;
        const path = url.searchParams.get("path");
        if (!path) return text(400, "Query parameter path (the volume path) is missing");
        return text(200, JSON.stringify(await b.volumeStats(path)), "application/json");
      }
      case "/direct-volume/resize": {
        if (req.method !== "POST") break;
        const r = parseResize(await readBody(req, MAX_BODY_BYTES));
        await b.resizeVolume(r.volumePath, r.size);
        return text(200, "");
      }
      default:
        return text(
          404,
          `No such path ${url.pathname} (try /metrics, /agent-url, /direct-volume/stats, /direct-volume/resize)`,
        );
    }
    return text(405, `Method ${req.method} is not allowed on ${url.pathname}`);
  } catch (e) {
    if (e instanceof BodyTooLarge) return text(413, e.message);
    if (e instanceof TypeError) return text(400, `Malformed request body: ${e.message}`);
    const status = statusOf(e);
    if (status >= 500) log.warn("monitor {route}: {e}", { route, e: String(e) });
    return text(status, (e as Error).message ?? String(e));
  }
}

/** A running management socket. */
export interface MonitorServer {
  readonly path: string;
  /** Stops serving and removes the socket file. */
  close(): Promise<void>;
}

/**
 * Serves the routes on the Unix socket `path` (a stale socket file there is
 * replaced). The socket is 0600: the routes can resize volumes.
 */
export function startMonitorServer(path: string, b: MonitorBackend): MonitorServer {
  try {
    const st = Deno.lstatSync(path);
    if (st.isSocket) Deno.removeSync(path);
  } catch {
    // nothing there
  }
  const ac = new AbortController();
  const server = Deno.serve(
    {
      path,
      signal: ac.signal,
      onListen: () => {},
      onError: (e) => text(500, `Internal error: ${String(e)}`),
    },
    (req) => handleMonitorRequest(req, b),
  );
  Deno.chmodSync(path, 0o600);
  log.debug("management socket {path} up", { path });
  let closed = false;
  return {
    path,
    async close() {
      if (closed) return;
      closed = true;
      ac.abort();
      await server.finished.catch(() => {});
      try {
        Deno.removeSync(path);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    },
  };
}
