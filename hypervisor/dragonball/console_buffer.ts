/**
 * The guest's serial output on its way to the console sink: bytes arrive one
 * vCPU exit at a time and leave in one batch per turn of the event loop, so
 * the sink (a log line) sees whole lines instead of single characters.
 * @module
 */
import { getLogger } from "../../common/log.ts";

const log = getLogger("hypervisor.dragonball");

/** Batches serial output for `sink`. */
export class ConsoleBuffer {
  #bytes: number[] = [];
  #scheduled = false;

  constructor(private readonly sink: (data: Uint8Array) => void) {}

  /** Queues bytes the guest wrote; they are flushed on the next turn. */
  push(data: Uint8Array): void {
    for (const b of data) this.#bytes.push(b);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setTimeout(() => this.flush(), 0);
    }
  }

  /** Hands what is queued to the sink now (a failing sink is logged, never thrown). */
  flush(): void {
    this.#scheduled = false;
    if (this.#bytes.length === 0) return;
    const out = Uint8Array.from(this.#bytes);
    this.#bytes = [];
    try {
      this.sink(out);
    } catch (e) {
      log.warn("serial console sink failed: {error}", { error: String(e) });
    }
  }
}
