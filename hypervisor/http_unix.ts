/**
 * A minimal HTTP/1.1 client over a Unix socket, enough for the Firecracker
 * and Cloud Hypervisor APIs: one request per connection, JSON bodies,
 * responses framed by Content-Length (or by the connection closing).
 * @module
 */
import { UnavailableError, UnimplementedError } from "../common/errors.ts";

/** One HTTP response. */
interface HttpResponse {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
}

/** The socket could not be reached (not there yet, refused): worth retrying. */
export class HttpConnectError extends Error {
  /** The VMM's API socket cannot be reached. */
  readonly code = "Unavailable";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "HttpConnectError";
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const HEADER_END = enc.encode("\r\n\r\n");
const MAX_HEADER_BYTES = 64 * 1024;

function indexOf(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Sends one request to the server listening on `socketPath` and reads its
 * response. Connect failures throw {@link HttpConnectError}; anything after a
 * connection is made throws a plain Error (the request may have been applied).
 */
export async function httpUnixRequest(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<HttpResponse> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path: socketPath });
  } catch (e) {
    throw new HttpConnectError(`Cannot connect to ${socketPath}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  try {
    const payload = body === undefined ? new Uint8Array() : enc.encode(JSON.stringify(body));
    const head = `${method} ${path} HTTP/1.1\r\nHost: localhost\r\n` +
      `Accept: application/json\r\n` +
      (body === undefined ? "" : `Content-Type: application/json\r\n`) +
      `Content-Length: ${payload.length}\r\n\r\n`;
    const req = concat(enc.encode(head), payload);
    for (let off = 0; off < req.length;) off += await conn.write(req.subarray(off));
    return await readResponse(conn, method);
  } finally {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

async function readResponse(conn: Deno.Conn, method: string): Promise<HttpResponse> {
  let buf: Uint8Array = new Uint8Array();
  const chunk = new Uint8Array(16 * 1024);
  const fill = async (): Promise<boolean> => {
    const n = await conn.read(chunk);
    if (n === null) return false;
    buf = concat(buf, chunk.subarray(0, n));
    return true;
  };
  let end: number;
  while ((end = indexOf(buf, HEADER_END)) < 0) {
    if (buf.length > MAX_HEADER_BYTES) {
      throw new UnavailableError(`HTTP response headers are larger than ${MAX_HEADER_BYTES} bytes`);
    }
    if (!await fill()) {
      throw new UnavailableError("Connection closed before the HTTP response headers ended");
    }
  }
  const lines = dec.decode(buf.subarray(0, end)).split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) throw new UnavailableError(`Malformed HTTP status line ${JSON.stringify(lines[0])}`);
  const status = Number(m[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let rest = buf.subarray(end + HEADER_END.length);
  if (headers["transfer-encoding"]?.toLowerCase().includes("chunked")) {
    throw new UnimplementedError("Chunked HTTP responses are not supported by this client");
  }
  const noBody = method === "HEAD" || status === 204 || status === 304 || status < 200;
  if (noBody) return { status, headers, body: "" };
  if (headers["content-length"] !== undefined) {
    const len = Number(headers["content-length"]);
    if (!Number.isSafeInteger(len) || len < 0) {
      throw new UnavailableError(
        `Malformed Content-Length ${JSON.stringify(headers["content-length"])}`,
      );
    }
    while (rest.length < len) {
      buf = rest;
      if (!await fill()) {
        throw new UnavailableError("Connection closed before the HTTP response body ended");
      }
      rest = buf;
    }
    return { status, headers, body: dec.decode(rest.subarray(0, len)) };
  }
  // No length: the body runs until the server closes.
  buf = rest;
  while (await fill());
  return { status, headers, body: dec.decode(buf) };
}
