/**
 * The task events a runtime emits, as plain objects named by their
 * containerd topic. The service turns them into `containerd.events.*`
 * messages; the order they are emitted in is the order containerd sees.
 * @module
 */
import type { MountSpec, StdioPaths } from "./task_io.ts";

/** One task event; `topic` is containerd's topic for it. */
export type TaskEvent =
  | {
    topic: "/tasks/create";
    containerId: string;
    bundle: string;
    rootfs: MountSpec[];
    io: StdioPaths;
    pid: number;
  }
  | { topic: "/tasks/start"; containerId: string; pid: number }
  | {
    topic: "/tasks/exit";
    containerId: string;
    /** The exec id, or the container id for the init process. */
    id: string;
    pid: number;
    exitStatus: number;
    exitedAt: Date;
  }
  | {
    topic: "/tasks/delete";
    containerId: string;
    /** The exec id, "" for the init process. */
    id: string;
    pid: number;
    exitStatus: number;
    exitedAt: Date;
  }
  | { topic: "/tasks/exec-added"; containerId: string; execId: string }
  | { topic: "/tasks/exec-started"; containerId: string; execId: string; pid: number }
  | { topic: "/tasks/paused"; containerId: string }
  | { topic: "/tasks/resumed"; containerId: string }
  | { topic: "/tasks/oom"; containerId: string };
