/**
 * The `Hypervisor` interface every VM driver implements (QEMU, the built-in
 * VMM, Firecracker, …), mirroring runtime-rs's `Hypervisor` trait including
 * the `boot_vm` step of PR #12771.
 *
 * Sandbox order: `prepareVm` → attach devices → `startVm` → OCI hooks →
 * netns rescan (more `addDevice` calls) → `bootVm` → agent connect.
 * A driver that boots in `startVm` makes `bootVm` a no-op; one that cannot
 * hotplug (Firecracker) accepts devices until `bootVm` and applies them there.
 * @module
 */
import type { Device } from "./device.ts";

/** Driver names, as `[runtime] hypervisor_name` and the config sections spell them. */
export type HypervisorKind = "qemu" | "dragonball" | "firecracker" | "clh" | "remote";

/**
 * Lifecycle of one VM, like runtime-rs's `VmmState` with the extra step
 * between start and boot: `not_ready` → `prepared` (VMM process/config ready)
 * → `started` (startVm done; guest may not run yet) → `running` (booted) →
 * `stopped`.
 */
export type VmState = "not_ready" | "prepared" | "started" | "running" | "stopped";

/** Options of {@link Hypervisor.prepareVm}. */
export interface PrepareVmOptions {
  /** Sandbox id. */
  id: string;
  /** Pod network namespace path the VMM (or its jailer) should join; none when absent. */
  netnsPath?: string;
  /** OCI annotations of the sandbox (already filtered by the config's allow-list). */
  annotations?: Record<string, string>;
  /** SELinux label for the VMM process; ignored where SELinux is off. */
  selinuxLabel?: string;
}

/** How the shim reaches the agent in this VM. */
export type AgentSocket =
  | { kind: "vsock"; cid: number; port: number }
  | { kind: "hvsock"; path: string; port: number };

/** Formats an {@link AgentSocket} as Kata's address (`vsock://3:1024`, `hvsock:///run/…/kata.hvsock:1024`). */
export function agentSocketUrl(s: AgentSocket): string {
  return s.kind === "vsock" ? `vsock://${s.cid}:${s.port}` : `hvsock://${s.path}:${s.port}`;
}

/** What a driver can do (runtime-rs's capability bits). */
export interface Capabilities {
  /** Block devices can be attached at all (else the rootfs is shared by fs). */
  blockDevice: boolean;
  /** Block devices can be added to a running VM. */
  blockHotplug: boolean;
  /** NICs can be added to a running VM. */
  netHotplug: boolean;
  /** A host directory can be shared (9p / virtio-fs). */
  fsSharing: boolean;
  /** The VMM serves virtio-fs itself, with no virtiofsd (`shared_fs = "inline-virtio-fs"`). */
  inlineVirtioFs?: boolean;
  /** The agent is reached over hybrid vsock (a Unix socket). */
  hybridVsock: boolean;
  /**
   * The agent's name for the driver of this VM's disks (`Storage.driver`:
   * `blk` for virtio-blk-pci, `scsi` for virtio-scsi, `mmioblk` for
   * virtio-mmio); null where the driver cannot tell the agent about disks.
   */
  agentBlockDriver: AgentBlockDriver | null;
}

/** The agent's block storage drivers (runtime-rs's `KATA_BLK_DEV_TYPE` and friends). */
export type AgentBlockDriver = "blk" | "scsi" | "mmioblk";

/** How the VM ended. `code` is the VMM's exit status; `signal` names a killing signal. */
export interface VmExit {
  code: number | null;
  signal: string | null;
}

/**
 * What `saveState` returns, stored in state.json under `hypervisor`; keys follow
 * runtime-rs's `HypervisorState` so files stay readable by both.
 */
export interface HypervisorState {
  hypervisor_type: HypervisorKind;
  pid: number | null;
  /** Start time of `pid` (/proc stat field 22), so a reused pid is never taken for the VMM. */
  pid_start?: string | null;
  uuid: string;
  api_socket: string;
  id: string;
  vm_path: string;
  jailed: boolean;
  jailer_root: string;
  netns: string | null;
  run_dir: string;
  /** Files and directories the driver made and owns outright (removed on cleanup). */
  owned_paths?: string[];
  /** Directories the driver made that may also hold others' files (removed only when empty). */
  owned_empty_dirs?: string[];
  /** Driver-specific extras (never needed by callers). */
  [key: string]: unknown;
}

/** One VM driver. Every method fails with a domain error naming the VM and the reason. */
export interface Hypervisor {
  /** Which driver this is. */
  readonly kind: HypervisorKind;
  /** Current lifecycle state. */
  state(): VmState;
  /** Creates the VM's run directory and the VMM process or configuration; no guest runs yet. */
  prepareVm(opts: PrepareVmOptions): Promise<void>;
  /** Starts the VM within `timeoutMs`. Drivers that cannot hotplug only get ready here. */
  startVm(timeoutMs: number): Promise<void>;
  /**
   * Finishes booting after the OCI hooks and the netns rescan: applies queued
   * devices, then starts the guest. No-op where `startVm` already booted.
   */
  bootVm(): Promise<void>;
  /** Stops the VM (kills the VMM); safe to call twice. */
  stopVm(): Promise<void>;
  /** Resolves when the VMM process ends. */
  waitVm(): Promise<VmExit>;
  /**
   * Attaches a device (cold before boot, hotplug after where supported) and
   * returns it with driver-filled fields (`guestPath`, `index`).
   */
  addDevice(d: Device): Promise<Device>;
  /** Detaches a device added earlier. */
  removeDevice(d: Device): Promise<void>;
  /** Where the agent listens. Known after `prepareVm`. */
  agentSocket(): AgentSocket;
  /** VMM process ids (first is the main VMM process); empty before start. */
  pids(): number[];
  capabilities(): Capabilities;
  /** Removes everything the driver created on the host (files, sockets, processes). */
  cleanup(): Promise<void>;
  /** State to persist in state.json. */
  saveState(): HypervisorState;
  /**
   * Where the guest's vCPUs are now, in one line (run state, instruction
   * pointers, halted or not), for a guest that does not answer; drivers that
   * cannot tell leave it out.
   */
  vcpuReport?(): Promise<string>;
  /**
   * Counters a VMM inside the shim keeps (vCPU exits by kind, ...), for the
   * management socket's metrics; drivers of a separate VMM process leave it out.
   */
  vmmCounters?(): Record<string, number>;
  /**
   * Set when the running VM was restored from a VM template (the built-in
   * VMM's factory): its guest still has the template's identity, which the
   * runtime replaces before any container runs; `nicMac` is the MAC the
   * template's guest probed its NIC with. Drivers without templates leave it out.
   */
  templateClone?(): { nicMac: string } | undefined;
}
