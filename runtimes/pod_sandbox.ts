/**
 * The pod as containerd 2.x's Sandbox API hands it to a shim (`sandboxer =
 * "shim"`): no sandbox container exists; CreateSandbox brings the pod's
 * configuration (CRI's PodSandboxConfig, decoded at the service boundary into
 * {@link PodConfig}), StartSandbox makes the pod's sandbox (a VM, or the
 * shared namespaces of the linux-container runtime), and the pod's
 * containers then arrive through Task Create naming the sandbox. What each
 * runtime implements is `PodSandboxRuntime` (handler.ts).
 * @module
 */
import type { MountSpec } from "./task_io.ts";

/** CRI's namespace modes: shared by the pod, per container, the node's own, another container's. */
export type NamespaceMode = "POD" | "CONTAINER" | "NODE" | "TARGET";

/** Linux resources of the pod (CRI's LinuxContainerResources), in its units; 0 when unset. */
export interface PodResources {
  cpuPeriod: number;
  cpuQuota: number;
  cpuShares: number;
  memoryLimitInBytes: number;
}

/** The pod's configuration, from CRI's PodSandboxConfig. */
export interface PodConfig {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
  hostname: string;
  logDirectory: string;
  dns: { servers: string[]; searches: string[]; options: string[] };
  labels: Record<string, string>;
  annotations: Record<string, string>;
  cgroupParent: string;
  namespaces: { network: NamespaceMode; pid: NamespaceMode; ipc: NamespaceMode };
  privileged: boolean;
  sysctls: Record<string, string>;
  /** The pod's limits (kubelet sums its containers'); undefined when CRI sent none. */
  resources?: PodResources;
  /** The RuntimeClass's pod overhead; undefined when CRI sent none. */
  overhead?: PodResources;
}

/** What CreateSandbox asks for. */
export interface CreateSandboxRequest {
  id: string;
  /** containerd's bundle directory for the sandbox (no config.json in it). */
  bundle: string;
  /** The pod's network namespace, made by CRI; empty when the pod uses the node's network. */
  netnsPath: string;
  pod: PodConfig;
  /** Annotations containerd adds beside the pod's own. */
  annotations: Record<string, string>;
  rootfs: MountSpec[];
  /** The runtime configuration file containerd's runtime options name, if any. */
  configPath?: string;
}

/** The sandbox's state, as SandboxStatus reports it. */
export interface PodSandboxStatus {
  pid: number;
  state: "created" | "ready" | "notready";
  createdAt?: Date;
  exitedAt?: Date;
  /** Extra facts for `crictl inspectp` (verbose only). */
  info: Record<string, string>;
}
