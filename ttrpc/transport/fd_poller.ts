/**
 * Readiness of raw fds for the JS thread: one poll(2) at a time on Deno's
 * thread pool covers every fd someone waits on, so a burst of ready
 * connections costs one thread hop, not one per read. A new wait or a
 * cancel interrupts the poll in flight through an eventfd, and the poll
 * stops when nobody waits (no thread is left blocked then).
 * @module
 */
import { POLL, pollAsync, Waker } from "../../ffi/stream_socket.ts";

interface Waiter {
  events: number;
  resolve: () => void;
}

/** Waits for fds to become readable or writable. */
export class FdPoller {
  #waker = new Waker();
  #waiters = new Map<number, Waiter[]>();
  #polling = false;
  #closed = false;

  /**
   * Resolves when `fd` has one of `events` (POLL.IN, POLL.OUT), an error or
   * a hang-up, or when {@link cancel} is called for it. Spurious wake-ups are
   * possible: the caller retries its non-blocking call.
   */
  wait(fd: number, events: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.#waiters.get(fd) ?? [];
      list.push({ events, resolve });
      this.#waiters.set(fd, list);
      if (this.#polling) this.#waker.wake();
      else this.#loop();
    });
  }

  /** Resolves every wait on `fd` (its owner is closing it). */
  cancel(fd: number): void {
    const list = this.#waiters.get(fd);
    if (!list) return;
    this.#waiters.delete(fd);
    for (const w of list) w.resolve();
    if (this.#polling) this.#waker.wake();
  }

  /** Ends every wait and releases the eventfd once the poll in flight returned. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const fd of [...this.#waiters.keys()]) this.cancel(fd);
    if (!this.#polling) this.#waker.close();
  }

  async #loop(): Promise<void> {
    this.#polling = true;
    try {
      while (this.#waiters.size > 0 && !this.#closed) {
        const fds = [...this.#waiters.keys()];
        const entries = [
          { fd: this.#waker.fd, events: POLL.IN },
          ...fds.map((fd) => ({
            fd,
            events: this.#waiters.get(fd)!.reduce((m, w) => m | w.events, 0),
          })),
        ];
        const revents = await pollAsync(entries, -1);
        if (revents[0]) this.#waker.drain();
        fds.forEach((fd, i) => {
          const got = revents[i + 1];
          if (!got) return;
          const list = this.#waiters.get(fd);
          if (!list) return; // cancelled meanwhile
          const failed = (got & (POLL.ERR | POLL.HUP | POLL.NVAL)) !== 0;
          const ready = list.filter((w) => failed || (w.events & got) !== 0);
          const rest = list.filter((w) => !ready.includes(w));
          if (rest.length) this.#waiters.set(fd, rest);
          else this.#waiters.delete(fd);
          for (const w of ready) w.resolve();
        });
      }
    } finally {
      this.#polling = false;
      if (this.#closed) this.#waker.close();
    }
  }
}
