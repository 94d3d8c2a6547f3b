/**
 * A guest interrupt line driven through KVM's irqfd: writing the eventfd
 * injects an edge on the GSI without leaving the JS thread's fast path.
 * @module
 */
import { closeFd, writeFd } from "../../ffi/fd.ts";
import { eventFd } from "../../ffi/eventfd.ts";
import { irqfd } from "../../ffi/kvm.ts";

const ONE = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);

/** Something that can raise a device's interrupt. */
export interface Interrupt {
  trigger(): void;
}

/** An edge-triggered GSI bound to an eventfd with KVM_IRQFD. */
export class IrqFdLine implements Interrupt {
  readonly #fd: number;
  #closed = false;

  constructor(vmFd: number, readonly gsi: number) {
    this.#fd = eventFd();
    try {
      irqfd(vmFd, this.#fd, gsi);
    } catch (e) {
      closeFd(this.#fd);
      throw e;
    }
  }

  trigger(): void {
    if (!this.#closed) writeFd(this.#fd, ONE);
  }

  /** Closes the eventfd; KVM drops the binding with it. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeFd(this.#fd);
  }
}
