/**
 * The contract between the Task service and a runtime: one `RuntimeHandler`
 * per kind (`linux_container` runs containers through an OCI runtime binary
 * on the host; `virt_container` runs them in a VM). Requests and answers are
 * plain objects in containerd's vocabulary, free of protobuf types, so the
 * service does the wire mapping and a runtime never sees ttRPC.
 * @module
 */
import type { ProcessState } from "./lifecycle.ts";
import type { TaskEvent } from "./events.ts";
import type { MountSpec, StdioPaths } from "./task_io.ts";
import type { CreateSandboxRequest, PodSandboxStatus } from "./pod_sandbox.ts";

export type { MountSpec, ProcessState, StdioPaths };

/** What `Create` asks for. */
export interface CreateContainerRequest extends StdioPaths {
  id: string;
  /** The bundle directory holding `config.json` and `rootfs/`. */
  bundle: string;
  /** Mounts that make up the rootfs, mounted on `<bundle>/rootfs` first. */
  rootfs: MountSpec[];
  /** The runtime configuration file chosen by containerd's runtime options, if any. */
  configPath?: string;
}

/** What `Exec` asks for. `process` is the OCI process (JSON) of the exec. */
export interface ExecRequest extends StdioPaths {
  containerId: string;
  execId: string;
  process: Record<string, unknown>;
}

/** How a process ended. */
export interface ExitStatus {
  pid: number;
  exitStatus: number;
  exitedAt: Date;
}

/** The state of one process (`State` rpc). */
export interface ProcessStatus extends StdioPaths {
  containerId: string;
  /** "" for the init process. */
  execId: string;
  bundle: string;
  pid: number;
  state: ProcessState;
  exitStatus: number;
  exitedAt?: Date;
}

/** One process of a container (`Pids` rpc); `execId` is set for exec processes. */
export interface ProcessInfo {
  pid: number;
  execId?: string;
}

/** Container metrics in cgroup v1 or v2 form (`StatsResponse.stats`). */
export interface ContainerStats {
  version: 1 | 2;
  /** The metrics object in the shape of containerd's cgroups `Metrics` message for that version. */
  metrics: Record<string, unknown>;
}

/** The Sandbox API's operations, implemented by each runtime for its one pod. */
interface PodSandboxRuntime {
  /** Records the pod and prepares what StartSandbox needs; nothing runs yet. */
  createSandbox(req: CreateSandboxRequest): Promise<void>;
  /**
   * Makes the pod's sandbox and returns the pid whose namespaces the pod's
   * containers join on the host (CRI puts `/proc/<pid>/ns/*` into their specs).
   */
  startSandbox(id: string): Promise<{ pid: number; createdAt: Date }>;
  /** Ends the sandbox (its containers with it); `timeoutSecs` bounds a graceful stop. */
  stopSandbox(id: string, timeoutSecs: number): Promise<void>;
  /** Resolves when the sandbox has ended (stopped, or died). */
  waitSandbox(id: string): Promise<ExitStatus>;
  sandboxStatus(id: string, verbose: boolean): Promise<PodSandboxStatus>;
  sandboxMetrics(id: string): Promise<ContainerStats>;
  /** Releases everything of the pod; the shim may exit afterwards. */
  shutdownSandbox(id: string): Promise<void>;
  /** The pod made through CreateSandbox and not yet shut down, if any. */
  podSandboxId(): string | undefined;
}

/**
 * A runtime: the containers of one shim, and their processes; and, under
 * containerd 2.x's Sandbox API, the pod itself (pod_sandbox.ts).
 */
export interface RuntimeHandler extends PodSandboxRuntime {
  /** Creates a container (its init process stays in `created`). Returns the init pid. */
  createContainer(req: CreateContainerRequest): Promise<number>;
  /** Starts the init (`execId` "") or an exec process; returns its pid. */
  start(containerId: string, execId: string): Promise<number>;
  /** Adds an exec process in `created`. */
  exec(req: ExecRequest): Promise<void>;
  /** Signals a process; `all` signals every process of the container. */
  kill(containerId: string, execId: string, signal: number, all: boolean): Promise<void>;
  /** Resolves when the process exits. */
  wait(containerId: string, execId: string): Promise<ExitStatus>;
  /** The state of a process. */
  state(containerId: string, execId: string): Promise<ProcessStatus>;
  /** The processes of a container. */
  pids(containerId: string): Promise<ProcessInfo[]>;
  pause(containerId: string): Promise<void>;
  resume(containerId: string): Promise<void>;
  /** Applies new OCI LinuxResources (JSON) to the container. */
  update(containerId: string, resources: Record<string, unknown>): Promise<void>;
  stats(containerId: string): Promise<ContainerStats>;
  resizePty(containerId: string, execId: string, width: number, height: number): Promise<void>;
  /** Closes the stdin of a process. */
  closeIo(containerId: string, execId: string): Promise<void>;
  /** Deletes a stopped (or never started) process, or the whole container for the init. */
  delete(containerId: string, execId: string): Promise<ExitStatus>;
  /** The pid of the container's init process (0 before create). */
  taskPid(containerId: string): number;
  /** Ids of the containers this handler still holds. */
  containerIds(): string[];
  /** Releases everything (called when the shim exits). */
  shutdown(): Promise<void>;
}

/** Receives the task events a runtime emits, in the order they happen. */
export type EventSink = (event: TaskEvent) => void;
