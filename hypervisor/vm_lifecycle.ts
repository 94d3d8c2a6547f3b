/**
 * The lifecycle of one VM as every driver sees it: the legal moves between
 * {@link VmState}s and, per operation, the states it is allowed in, so a
 * driver asks `require("pause")` instead of writing its own state guard and
 * every refusal reads the same (`Cannot pause QEMU VM "sb": it is prepared,
 * not running`). Two rule tables cover the drivers: the guest boots in
 * `startVm` (QEMU, Cloud Hypervisor, the built-in VMM) or only in `bootVm`
 * (Firecracker, which cannot hotplug and so waits for the netns rescan).
 * @module
 */
import { FailedPreconditionError } from "../common/errors.ts";
import type { VmState } from "./hypervisor.ts";

/** What a caller may ask of a VM, by the states it needs. */
type VmOperation =
  /** `prepareVm`. */
  | "prepare"
  /** `startVm`. */
  | "start"
  /** `bootVm`. */
  | "boot"
  /** `addDevice` (cold before boot, hot after where the driver can). */
  | "attach"
  /** Anything that talks to a running guest: pause, resume, resize, hotplug, unplug. */
  | "operate";

/** The states each operation is legal in. */
export type VmRules = Readonly<Record<VmOperation, readonly VmState[]>>;

/** Rules of a driver whose guest boots in `startVm`; `bootVm` only checks it runs. */
export const BOOTS_IN_START: VmRules = {
  prepare: ["not_ready"],
  start: ["prepared"],
  boot: ["running"],
  attach: ["prepared", "started", "running"],
  operate: ["running"],
};

/** Rules of a driver whose guest boots in `bootVm`, after `startVm` readied the VMM. */
export const BOOTS_IN_BOOT: VmRules = { ...BOOTS_IN_START, boot: ["started"] };

const MOVES: Readonly<Record<VmState, readonly VmState[]>> = {
  not_ready: ["prepared", "stopped"],
  prepared: ["started", "running", "stopped"],
  started: ["running", "stopped"],
  running: ["stopped"],
  stopped: ["stopped"],
};

/** One VM's state, moved only along legal edges and checked per operation. */
export class VmLifecycle {
  #state: VmState = "not_ready";
  /** The sandbox id, once `prepareVm` set it (errors name it). */
  id = "";

  /** `vmm` names the VMM in errors (`QEMU`, `Firecracker`, `built-in`). */
  constructor(readonly vmm: string, readonly rules: VmRules = BOOTS_IN_START) {}

  /** The current state. */
  get state(): VmState {
    return this.#state;
  }

  /** How errors name this VM, e.g. `QEMU VM "sb"`. */
  get what(): string {
    return `${this.vmm} VM "${this.id}"`;
  }

  /** Whether `op` is legal now. */
  allows(op: VmOperation): boolean {
    return this.rules[op].includes(this.#state);
  }

  /**
   * Throws FailedPreconditionError unless `op` is legal now. `text` is the
   * verb phrase of the message (default: the operation's name); `id` names
   * the VM where {@link id} is not set yet (a refused `prepareVm`).
   */
  require(op: VmOperation, text: string = op, id = this.id): void {
    if (this.allows(op)) return;
    const what = `${this.vmm} VM "${id}"`;
    if (op === "prepare") {
      throw new FailedPreconditionError(`Cannot ${text} ${what}: already prepared`);
    }
    const legal = this.rules[op];
    const not = legal.length === 1 ? `, not ${legal[0]}` : "";
    throw new FailedPreconditionError(`Cannot ${text} ${what}: it is ${this.#state}${not}`);
  }

  /** Moves to `to`; an illegal move is a bug in the driver and throws. */
  moveTo(to: VmState): void {
    if (!MOVES[this.#state].includes(to)) {
      throw new FailedPreconditionError(
        `Invalid state transition of ${this.what} from ${this.#state} to ${to}`,
      );
    }
    this.#state = to;
  }

  /** Marks the VM stopped (its VMM ended or was stopped); a VM never prepared stays not_ready. */
  stopped(): void {
    if (this.#state !== "not_ready") this.#state = "stopped";
  }
}
