/**
 * The sandbox's undo stack, run in the one clean-up order every path uses
 * (normal stop, undo of a failed start): every "stop" undo (agent, watchers,
 * services, VM, network), newest first; then every "unmount" undo (shared
 * fs); then proof from /proc/self/mountinfo that nothing is mounted under the
 * sandbox directory; only then every "remove" undo (driver files, cgroup,
 * state). A failed unmount or a mount left behind skips every removal, so no
 * removal can reach a container's files through a mount.
 * @module
 */
import { FailedPreconditionError, MultipleErrors } from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import { mountsUnder } from "../../persist/remove_tree.ts";

const log = getLogger("runtimes.virt_container.undo");

/**
 * When an undo runs: "stop" (processes and connections), "unmount" (shared
 * mounts), "remove" (files, cgroup, state; only once nothing is mounted).
 */
export type UndoPhase = "stop" | "unmount" | "remove";

interface Undo {
  step: string;
  phase: UndoPhase;
  fn: () => Promise<void> | void;
}

/** Undo actions recorded as start steps complete. */
export class UndoStack {
  #undo: Undo[] = [];

  constructor(readonly sandboxId: string) {}

  /** Records the undo of `step`, run in `phase`. */
  push(step: string, phase: UndoPhase, fn: () => Promise<void> | void): void {
    this.#undo.push({ step, phase, fn });
  }

  /**
   * Runs every recorded undo in the clean-up order of the module doc and
   * empties the stack. `betweenStopAndUnmount` runs after the stop phase
   * (e.g. waiting for the VM watcher). Throws the failures (one, or an
   * MultipleErrors); when a mount under `sandboxDir` stays, a
   * {@link FailedPreconditionError} naming it, and nothing was removed.
   */
  async unwind(sandboxDir: string, betweenStopAndUnmount?: () => Promise<void>): Promise<void> {
    const undo = this.#undo.reverse();
    this.#undo = [];
    const errors: unknown[] = [];
    const run = async (phase: UndoPhase) => {
      const failed = errors.length;
      for (const { step, phase: ph, fn } of undo) {
        if (ph !== phase) continue;
        try {
          await fn();
        } catch (e) {
          log.warn("sandbox {id}: undoing {step} failed: {e}", {
            id: this.sandboxId,
            step,
            e: String(e),
          });
          errors.push(e);
        }
      }
      return errors.length === failed;
    };
    await run("stop");
    await betweenStopAndUnmount?.();
    const unmounted = await run("unmount");
    const left = mountsUnder(sandboxDir);
    if (unmounted && left.length === 0) {
      await run("remove");
    } else if (left.length > 0) {
      errors.push(
        new FailedPreconditionError(
          `Cannot clean up sandbox ${this.sandboxId}: ${left[left.length - 1]} is still mounted; ` +
            "nothing was removed",
        ),
      );
    } else {
      log.warn("sandbox {id}: an unmount failed; nothing was removed", { id: this.sandboxId });
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) {
      const why = errors.map((e) => e instanceof Error ? e.message : String(e)).join("; ");
      throw new MultipleErrors(errors, `Cleanup of sandbox ${this.sandboxId} failed: ${why}`);
    }
  }
}
