/**
 * Unix stream sockets, the transport between containerd and the shim.
 * @module
 */
import { UnavailableError } from "../../common/errors.ts";

/**
 * Connects to a ttRPC server listening on a Unix socket.
 * @throws {UnavailableError} naming the socket when the connection fails
 */
export async function connectUnix(path: string): Promise<Deno.UnixConn> {
  try {
    return await Deno.connect({ transport: "unix", path });
  } catch (err) {
    throw new UnavailableError(
      `Cannot connect to ttrpc socket ${path}: ${err instanceof Error ? err.message : err}`,
      { cause: err },
    );
  }
}

/**
 * Listens on a Unix socket path. A stale socket file left by a dead process
 * is replaced only when `replaceStale` is set and nothing answers on it.
 * @throws {Deno.errors.AddrInUse} when the path is in use by a live server (or stale and not replaced)
 */
export async function listenUnix(
  path: string,
  opts: { replaceStale?: boolean } = {},
): Promise<Deno.UnixListener> {
  try {
    return Deno.listen({ transport: "unix", path });
  } catch (err) {
    if (!(err instanceof Deno.errors.AddrInUse) || !opts.replaceStale) throw err;
    try {
      (await Deno.connect({ transport: "unix", path })).close();
      throw err; // A live server owns it.
    } catch (probe) {
      if (probe === err) throw err;
    }
    await Deno.remove(path);
    return Deno.listen({ transport: "unix", path });
  }
}
