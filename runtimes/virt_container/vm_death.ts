/**
 * A sandbox's watch on its VM: the VM ending without being asked to is
 * logged and reported once, and while the sandbox starts it fails the step
 * under way at once. A dead guest never answers its agent, so without this
 * a VM that died in boot (a guest kernel panic, say) left the start waiting
 * out `reconnect_timeout_ms` before it failed.
 * @module
 */
import { UnavailableError } from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import type { Hypervisor, VmExit } from "../../hypervisor/hypervisor.ts";

const log = getLogger("runtimes.virt_container.sandbox");

/** Watches one started VM (made right after `startVm`). */
export class VmDeathWatch {
  /** Settles once `waitVm` did and the death was reported (or was a stop). */
  readonly done: Promise<void>;
  /** Settles with the exit only when the VM ended unasked. */
  readonly #death: Promise<VmExit>;

  /**
   * @param stopping whether the sandbox asked for the end (then nothing is reported)
   * @param onDeath called once with the exit of an unasked end
   */
  constructor(
    hv: Hypervisor,
    readonly sandboxId: string,
    stopping: () => boolean,
    onDeath: (exit: VmExit) => void,
  ) {
    let died: (exit: VmExit) => void = () => {};
    this.#death = new Promise((resolve) => died = resolve);
    this.done = hv.waitVm().then(
      (exit) => {
        if (stopping()) return;
        log.error("sandbox {id}: the VM ended unexpectedly ({code} {signal})", {
          id: sandboxId,
          code: exit.code,
          signal: exit.signal,
        });
        died(exit);
        onDeath(exit);
      },
      (e) =>
        log.warn("sandbox {id}: waiting for the VM failed: {e}", { id: sandboxId, e: String(e) }),
    );
  }

  /**
   * `running`, unless the VM dies first: then an UnavailableError naming the
   * exit and `what`, and `running` is left to settle unobserved.
   */
  async failFast<T>(what: string, running: Promise<T>): Promise<T> {
    running.catch(() => {});
    const died = this.#death.then((exit): never => {
      throw new UnavailableError(
        `The VM of sandbox ${this.sandboxId} exited (code ${exit.code}, signal ${exit.signal}) during ${what}`,
      );
    });
    died.catch(() => {});
    return await Promise.race([running, died]);
  }
}
