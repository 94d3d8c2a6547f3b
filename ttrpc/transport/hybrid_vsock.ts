/**
 * Hybrid vsock (Firecracker, Cloud Hypervisor, Dragonball): the VMM exposes
 * one Unix socket; a host process reaches guest port P by sending
 * `CONNECT P\n` and reading one `OK <host port>\n` line, after which the
 * socket is a raw stream to the guest.
 * @module
 */
import { InvalidArgumentError, UnavailableError } from "../../common/errors.ts";
import { type DialOptions, retryUntil } from "./retry.ts";
import { writeAll } from "../../common/io.ts";

/** Longest acknowledgement line accepted ("OK " + a u32 + "\n" is at most 14 bytes). */
const MAX_ACK_LINE = 32;

/** Defaults: Kata's reconnect_timeout (3 s) and a short pause between attempts. */
const DEFAULTS: Required<DialOptions> = { timeoutMs: 3000, retryIntervalMs: 10 };

/**
 * Connects to guest vsock `port` through the VMM's hybrid vsock socket at
 * `udsPath`. Retries while the VMM socket is missing or the guest is not
 * listening yet (the VMM then closes the connection), up to `timeoutMs`.
 * The acknowledgement is read byte by byte, so no guest bytes are consumed.
 * @throws {UnavailableError} naming the socket and port when no connection was made in time
 */
export async function connectHybridVsock(
  udsPath: string,
  port: number,
  opts: DialOptions = {},
): Promise<Deno.UnixConn> {
  if (!Number.isInteger(port) || port < 0 || port > 0xffffffff) {
    throw new InvalidArgumentError(
      `Cannot connect to hybrid vsock ${udsPath}: port ${port} is not a u32`,
    );
  }
  const timing = { ...DEFAULTS, ...opts };
  try {
    return await retryUntil(
      (remaining) => handshake(udsPath, port, remaining),
      timing,
      (late) => late.close(),
    );
  } catch (err) {
    throw new UnavailableError(
      `Cannot connect to hybrid vsock ${udsPath} port ${port}: ${
        err instanceof Error ? err.message : String(err)
      }`,
      { cause: err },
    );
  }
}

async function handshake(udsPath: string, port: number, remainingMs: number) {
  const conn = await Deno.connect({ transport: "unix", path: udsPath });
  // Closing the socket is the only way to interrupt a read that would overrun the dial timeout.
  const timer = setTimeout(() => conn.close(), remainingMs);
  try {
    await writeAll(conn, new TextEncoder().encode(`CONNECT ${port}\n`));
    const line = await readLine(conn);
    if (!/^OK \d+$/i.test(line)) {
      throw new UnavailableError(`Unexpected reply ${JSON.stringify(line)} to CONNECT`);
    }
    clearTimeout(timer);
    return conn;
  } catch (err) {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Closed by the timer already.
    }
    throw err;
  }
}

/** Reads one LF-terminated line, one byte per read, so nothing after the LF is consumed. */
async function readLine(conn: Deno.Conn): Promise<string> {
  const line: number[] = [];
  const byte = new Uint8Array(1);
  while (line.length < MAX_ACK_LINE) {
    const n = await conn.read(byte);
    if (n === null) {
      throw new UnavailableError(
        line.length === 0
          ? "The VMM closed the connection (guest not listening yet)"
          : `The VMM closed the connection after ${JSON.stringify(String.fromCharCode(...line))}`,
      );
    }
    if (n === 0) continue;
    if (byte[0] === 0x0a) return String.fromCharCode(...line);
    line.push(byte[0]);
  }
  throw new UnavailableError(`Acknowledgement line longer than ${MAX_ACK_LINE} bytes`);
}
