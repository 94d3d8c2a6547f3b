/**
 * AF_VSOCK through Deno's native vsock transport (`--unstable-vsock`): the
 * host side of QEMU's vhost-vsock, and the guest agent's listener.
 * @module
 */
import { UnavailableError } from "../../common/errors.ts";
import { type DialOptions, retryUntil } from "./retry.ts";

/** VMADDR_CID_ANY: listen on every CID of this machine. */
export const VMADDR_CID_ANY = 0xffffffff;

const DEFAULTS: Required<DialOptions> = { timeoutMs: 3000, retryIntervalMs: 10 };

/**
 * Connects to `cid:port`, retrying while the peer is not listening yet, up to `timeoutMs`.
 * Needs `--unstable-vsock`.
 * @throws {UnavailableError} naming the cid and port when no connection was made in time
 */
export async function connectVsock(
  cid: number,
  port: number,
  opts: DialOptions = {},
): Promise<Deno.VsockConn> {
  try {
    return await retryUntil(
      () => Deno.connect({ transport: "vsock", cid, port }),
      { ...DEFAULTS, ...opts },
      (late) => late.close(),
    );
  } catch (err) {
    throw new UnavailableError(
      `Cannot connect to vsock cid ${cid} port ${port}: ${
        err instanceof Error ? err.message : String(err)
      }`,
      { cause: err },
    );
  }
}

/**
 * Listens on vsock `port` (CID_ANY by default), as the Kata agent does on 1024.
 * Needs `--unstable-vsock`.
 */
export function listenVsock(port: number, cid = VMADDR_CID_ANY): Deno.VsockListener {
  return Deno.listen({ transport: "vsock", cid, port });
}
