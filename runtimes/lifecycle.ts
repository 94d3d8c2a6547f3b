/**
 * The lifecycle of a container's process (its init or an exec): five
 * explicit states and a table of the moves and operations each allows, so
 * that an illegal request is refused with a message naming the process and
 * the state it is in, the way containerd's runc shim models it.
 * @module
 */
import { FailedPreconditionError, NotFoundError } from "../common/errors.ts";

/** The states of a process, in containerd's words. */
export type ProcessState = "created" | "running" | "paused" | "stopped" | "deleted";

/** Operations a caller may ask of a process. */
type ProcessOperation =
  | "start"
  | "pause"
  | "resume"
  | "kill"
  | "exec"
  | "resize"
  | "closeIo"
  | "update"
  | "delete";

const MOVES: Record<ProcessState, readonly ProcessState[]> = {
  created: ["running", "stopped", "deleted"],
  running: ["paused", "stopped"],
  paused: ["running", "stopped"],
  stopped: ["deleted"],
  deleted: [],
};

const ALLOWED: Record<ProcessState, readonly ProcessOperation[]> = {
  created: ["start", "kill", "resize", "closeIo", "delete", "update"],
  running: ["pause", "kill", "exec", "resize", "closeIo", "update"],
  paused: ["resume", "kill", "resize", "closeIo", "update"],
  stopped: ["delete", "closeIo"],
  deleted: [],
};

/** A process's current state, with only the legal moves allowed. */
export class Lifecycle {
  #state: ProcessState = "created";

  /** `what` names the process in errors, e.g. `container "c1"` or `exec "e1" of container "c1"`. */
  constructor(readonly what: string) {}

  /** The current state. */
  get state(): ProcessState {
    return this.#state;
  }

  /** Whether `op` is allowed now. */
  allows(op: ProcessOperation): boolean {
    return ALLOWED[this.#state].includes(op);
  }

  /**
   * Throws unless `op` is allowed now: a finished process is NotFound for a
   * kill (as containerd's runc shim answers), anything else illegal is a
   * FailedPrecondition that names the process and its state.
   */
  require(op: ProcessOperation): void {
    if (this.allows(op)) return;
    if (this.#state === "deleted") throw new NotFoundError(`${this.what} was deleted`);
    if (op === "kill" && this.#state === "stopped") {
      throw new NotFoundError(`Cannot kill ${this.what}: the process already finished`);
    }
    throw new FailedPreconditionError(`Cannot ${opText(op)} ${this.what}: it is ${this.#state}`);
  }

  /** Moves to `to`; an illegal move throws FailedPreconditionError. */
  moveTo(to: ProcessState): void {
    if (!MOVES[this.#state].includes(to)) {
      throw new FailedPreconditionError(
        `Invalid state transition of ${this.what} from ${this.#state} to ${to}`,
      );
    }
    this.#state = to;
  }
}

function opText(op: ProcessOperation): string {
  switch (op) {
    case "closeIo":
      return "close the stdin of";
    case "resize":
      return "resize the terminal of";
    case "exec":
      return "exec in";
    default:
      return op;
  }
}
