/**
 * The agent's log port (vsock 1025, as kata-agent): every connected reader
 * receives each log line written after it connected. Slow or gone readers
 * are dropped; logging never waits on them.
 * @module
 */
import type { LogRecord, Sink } from "@logtape/logtape";
import { formatRecord } from "../../common/log.ts";

/** Kata's agent log port. */
export const LOG_PORT = 1025;

/** Most bytes queued for one reader before it is dropped. */
const MAX_QUEUED = 1 << 20;

interface Reader {
  conn: Deno.Conn;
  queue: Uint8Array[];
  queued: number;
  writing: boolean;
}

/** Fans log lines out to the connections accepted from a listener. */
export class LogPort {
  #readers = new Set<Reader>();
  #listener: Deno.Listener | undefined;
  #enc = new TextEncoder();

  /** Accepts readers from `listener` until it closes. */
  async serve(listener: Deno.Listener): Promise<void> {
    this.#listener = listener;
    try {
      for await (const conn of listener) {
        this.#readers.add({ conn, queue: [], queued: 0, writing: false });
      }
    } catch {
      // listener closed
    }
  }

  /** Number of connected readers. */
  get readerCount(): number {
    return this.#readers.size;
  }

  /** Queues one line (a trailing newline is added when missing) for every reader. */
  write(line: string): void {
    const bytes = this.#enc.encode(line.endsWith("\n") ? line : line + "\n");
    for (const r of this.#readers) {
      if (r.queued + bytes.length > MAX_QUEUED) {
        this.#drop(r);
        continue;
      }
      r.queue.push(bytes);
      r.queued += bytes.length;
      if (!r.writing) this.#flush(r);
    }
  }

  async #flush(r: Reader): Promise<void> {
    r.writing = true;
    try {
      while (r.queue.length > 0) {
        const chunk = r.queue.shift()!;
        r.queued -= chunk.length;
        let off = 0;
        while (off < chunk.length) off += await r.conn.write(chunk.subarray(off));
      }
    } catch {
      this.#drop(r);
    } finally {
      r.writing = false;
    }
  }

  #drop(r: Reader): void {
    if (!this.#readers.delete(r)) return;
    try {
      r.conn.close();
    } catch {
      // already closed
    }
  }

  /** A logtape sink writing formatted records here. */
  sink(): Sink {
    return (record: LogRecord) => this.write(formatRecord(record));
  }

  /** Closes the listener and every reader. */
  close(): void {
    try {
      this.#listener?.close();
    } catch {
      // already closed
    }
    for (const r of [...this.#readers]) this.#drop(r);
  }
}
