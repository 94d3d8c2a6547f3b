/**
 * A Unix listener on an inherited, already listening socket fd: `start`
 * binds the shim's socket and hands it to the server it spawns (the Go shims'
 * pattern), so connections made before the server is up wait in the
 * socket's backlog instead of failing. Deno's own `Deno.listen` cannot adopt
 * an fd, so accept, recv and send are non-blocking FFI calls and one poll on
 * Deno's thread pool waits for all of them (./fd_poller.ts). This replaced
 * `node:net`'s `server.listen({ fd })`: loading Node's compat layer cost the
 * server about 44 ms of start-up (timed in the bundle when it was replaced).
 * @module
 */
import { UnavailableError } from "../../common/errors.ts";
import type { ServerConn } from "../server_connection.ts";
import type { ConnListener } from "../server.ts";
import {
  acceptNow,
  POLL,
  recvNow,
  sendNow,
  setNonBlocking,
  shutdownBoth,
} from "../../ffi/stream_socket.ts";
import { closeFd } from "../../ffi/fd.ts";
import { FdPoller } from "./fd_poller.ts";

/** One accepted connection as a {@link ServerConn}. */
class FdConn implements ServerConn {
  #fd: number;
  #poller: FdPoller;
  #onClose: () => void;
  #closed = false;

  constructor(fd: number, poller: FdPoller, onClose: () => void) {
    this.#fd = fd;
    this.#poller = poller;
    this.#onClose = onClose;
  }

  async read(p: Uint8Array): Promise<number | null> {
    const buf = p as Uint8Array<ArrayBuffer>;
    while (!this.#closed) {
      const n = recvNow(this.#fd, buf);
      if (n !== "again") return n === 0 ? null : n;
      await this.#poller.wait(this.#fd, POLL.IN);
    }
    return null;
  }

  async write(p: Uint8Array): Promise<number> {
    const buf = p as Uint8Array<ArrayBuffer>;
    while (!this.#closed) {
      const n = sendNow(this.#fd, buf);
      if (n > 0) return n;
      await this.#poller.wait(this.#fd, POLL.OUT);
    }
    throw new UnavailableError("Cannot write: the connection closed");
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Waiters see #closed once woken; the fd goes at once (no call on it is in flight:
    // every call is non-blocking, and a poll that still lists it only wakes spuriously).
    this.#poller.cancel(this.#fd);
    shutdownBoth(this.#fd);
    closeFd(this.#fd);
    this.#onClose();
  }
}

/** A listener over the inherited fd; its connections share its poller. */
class InheritedListener implements ConnListener {
  #fd: number;
  #poller = new FdPoller();
  #open = 0;
  #closed = false;

  constructor(fd: number) {
    setNonBlocking(fd);
    this.#fd = fd;
  }

  async accept(): Promise<ServerConn> {
    while (!this.#closed) {
      const fd = acceptNow(this.#fd);
      if (fd !== "again") {
        this.#open++;
        return new FdConn(fd, this.#poller, () => {
          this.#open--;
          this.#release();
        });
      }
      await this.#poller.wait(this.#fd, POLL.IN);
    }
    throw new Deno.errors.BadResource("Listener is closed");
  }

  /** Stops accepting; connections already accepted keep being served. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#poller.cancel(this.#fd);
    closeFd(this.#fd);
    this.#release();
  }

  #release(): void {
    if (this.#closed && this.#open === 0) this.#poller.close();
  }
}

/**
 * Serves connections of the listening Unix socket at `fd` (inherited from
 * the parent); the listener owns the fd from now on and closes it. The
 * caller should make the fd close-on-exec first, so that processes it
 * spawns do not keep the socket alive.
 */
export function listenInheritedFd(fd: number): Promise<ConnListener> {
  return Promise.resolve(new InheritedListener(fd));
}
