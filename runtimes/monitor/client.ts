/**
 * A minimal HTTP/1.1 client for the management socket (what `shim-ctl
 * metrics` and `shim-ctl direct-volume stats|resize` use): one request per
 * connection, `Connection: close`, the response read to its end.
 * @module
 */
import { UnavailableError } from "../../common/errors.ts";
import { writeAll } from "../../common/io.ts";

/** A response: status, lower-cased headers and the decoded body. */
interface MonitorResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Largest response read (a guest with many devices gives a few hundred kB of metrics). */
const MAX_RESPONSE = 16 << 20;

function decodeChunked(data: Uint8Array): Uint8Array {
  const out: number[] = [];
  let i = 0;
  const dec = new TextDecoder();
  for (;;) {
    const eol = data.indexOf(10, i);
    if (eol < 0) break;
    const size = parseInt(dec.decode(data.subarray(i, eol)).trim(), 16);
    if (!Number.isFinite(size) || size === 0) break;
    out.push(...data.subarray(eol + 1, eol + 1 + size));
    i = eol + 1 + size + 2;
  }
  return new Uint8Array(out);
}

/** Parses a complete HTTP/1.1 response. */
function parseResponse(data: Uint8Array): MonitorResponse {
  const sep = (() => {
    for (let i = 0; i + 3 < data.length; i++) {
      if (data[i] === 13 && data[i + 1] === 10 && data[i + 2] === 13 && data[i + 3] === 10) {
        return i;
      }
    }
    return -1;
  })();
  if (sep < 0) throw new UnavailableError("Management socket sent an incomplete HTTP response");
  const head = new TextDecoder().decode(data.subarray(0, sep)).split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0]);
  if (!m) throw new UnavailableError(`Management socket sent a bad status line ${head[0]}`);
  const headers: Record<string, string> = {};
  for (const h of head.slice(1)) {
    const c = h.indexOf(":");
    if (c > 0) headers[h.slice(0, c).trim().toLowerCase()] = h.slice(c + 1).trim();
  }
  let body = data.subarray(sep + 4);
  if (headers["transfer-encoding"]?.includes("chunked")) body = decodeChunked(body);
  return { status: Number(m[1]), headers, body: new TextDecoder().decode(body) };
}

/**
 * Sends one request to the socket at `path`.
 * @throws {UnavailableError} naming the socket when it cannot be reached
 */
export async function monitorRequest(
  socketPath: string,
  method: string,
  target: string,
  body?: string,
): Promise<MonitorResponse> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path: socketPath });
  } catch (e) {
    throw new UnavailableError(
      `Cannot reach the management socket ${socketPath}: ${(e as Error).message}`,
    );
  }
  try {
    const payload = body === undefined ? new Uint8Array() : new TextEncoder().encode(body);
    const head = `${method} ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n` +
      (body === undefined
        ? "\r\n"
        : `Content-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`);
    await writeAll(conn, new TextEncoder().encode(head));
    if (payload.length) await writeAll(conn, payload);
    const chunks: Uint8Array[] = [];
    let total = 0;
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      total += n;
      if (total > MAX_RESPONSE) {
        throw new UnavailableError(`Response from ${socketPath} exceeds ${MAX_RESPONSE} bytes`);
      }
    }
    const all = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) {
      all.set(c, off);
      off += c.length;
    }
    return parseResponse(all);
  } finally {
    conn.close();
  }
}
