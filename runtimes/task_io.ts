/**
 * containerd's description of a task's inputs, shared by the requests a
 * runtime gets (`handler.ts`) and the events it emits (`events.ts`): the
 * rootfs mounts and the stdio FIFOs. A file of its own so those two do not
 * import each other.
 * @module
 */

/** A mount as containerd describes it (`containerd.types.Mount`). */
export interface MountSpec {
  type: string;
  source: string;
  target: string;
  options: string[];
}

/** The stdio of a process: FIFO paths (or "" for none) and the terminal flag. */
export interface StdioPaths {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}
