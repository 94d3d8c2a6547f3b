/**
 * One VM sandbox and its lifecycle, in runtime-rs's order (PR #12771).
 * {@link VirtSandbox.start} runs these steps, each recorded with its undo so
 * that a failure at any step undoes exactly the earlier ones, newest first:
 *
 *  1. `prepare_vm`      — the driver makes its run dir / VMM process;
 *  2. `attach_share_fs` — the shared directory (9p / virtio-fs) as a device;
 *  3. `attach_network`  — the pod netns scanned, NICs cold-plugged before
 *                         the VM starts (the built-in VMM boots in start_vm);
 *  4. `start_vm`        — the VMM runs (Firecracker: a no-op); from here on
 *                         an unexpected VM death is reported and fails the
 *                         step under way at once (vm_death.ts);
 *  5. `sandbox_cgroup`  — the VMM's pids into the sandbox (or overhead) cgroup;
 *  6. `oci_hooks`       — OCI prestart + createRuntime hooks, pid = VMM pid;
 *  7. `rescan_network`  — only after hooks ran: links they made become NICs;
 *  8. `boot_vm`         — queued NICs flushed, then the guest boots;
 *     `sandbox_services` — guest log forwarder and management socket
 *                         (`shim-monitor.sock`), stopped before the VM;
 *  9. `connect_agent`   — dial (vsock / hybrid vsock) with `[agent.kata]`
 *                         dial and reconnect timeouts;
 * 10. `setup_network`   — UpdateInterface (retrying only "Link not found"),
 *                         AddARPNeighbors, UpdateRoutes;
 * 11. `create_sandbox`  — CreateSandbox (hostname, DNS, shared fs storage);
 * 12. `guest_details`   — GetGuestDetails;
 * 13. `watchers`        — the OOM event loop and the periodic health Check;
 * 14. `save_state`      — state.json through `persist/`.
 *
 * {@link VirtSandbox.stop} is the sandbox end: watchers and agent stopped,
 * VM stopped, network detached, shared fs unmounted, cgroup removed, driver
 * cleaned up, state removed.
 * @module
 */
import { FailedPreconditionError } from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import { DeviceManager } from "../../hypervisor/device_manager.ts";
import type { Hypervisor, VmExit } from "../../hypervisor/hypervisor.ts";
import type { StateStore } from "../../persist/state_store.ts";
import type { ContainerState } from "../../persist/state.ts";
import type { SandboxCgroup } from "../../resource/cgroups/sandbox_cgroup.ts";
import type { ShareFs } from "../../resource/share_fs/share_fs.ts";
import { DirectVolumeClaims } from "../../resource/volume/block_volume.ts";
import { removeTreeSafely } from "../../persist/remove_tree.ts";
import { type UndoPhase, UndoStack } from "./undo.ts";
import { logVcpuReport } from "./vcpu_report.ts";
import { VmDeathWatch } from "./vm_death.ts";
import { cleanupStaleSandbox, shareFsRecord } from "./cleanup.ts";
import { type AgentApi, type AgentDialer, NO_DEADLINE } from "./agent_api.ts";
import { hooksOf, type OciHook, type OciState, runHooks } from "./hooks.ts";
import { networkSink, type SandboxNetwork, setupGuestNetwork } from "./sandbox_network.ts";
import { giveCloneIdentity } from "./clone_identity.ts";

export type { SandboxNetwork } from "./sandbox_network.ts";

const log = getLogger("runtimes.virt_container.sandbox");

/** The names of the start steps, in order (tests compare against this). */
export const START_STEPS = [
  "prepare_vm",
  "attach_share_fs",
  "attach_network",
  "start_vm",
  "sandbox_cgroup",
  "oci_hooks",
  "rescan_network",
  "boot_vm",
  "sandbox_services",
  "connect_agent",
  "setup_network",
  "create_sandbox",
  "guest_details",
  "watchers",
  "save_state",
] as const;
/** One start step. */
export type StartStep = typeof START_STEPS[number];

/** Everything a sandbox is made of. */
export interface SandboxParts {
  id: string;
  /** The sandbox container's bundle (hooks get it in their state). */
  bundle: string;
  /** The sandbox container's OCI spec (hooks, hostname). */
  spec: Record<string, unknown>;
  /** The pod network namespace, when there is one. */
  netnsPath?: string;
  annotations: Record<string, string>;
  hostname: string;
  /** DNS lines (resolv.conf content, one entry per line) for CreateSandbox. */
  dns: string[];
  hypervisor: Hypervisor;
  shareFs: ShareFs;
  network?: SandboxNetwork;
  cgroup?: SandboxCgroup;
  dialAgent: AgentDialer;
  store: StateStore;
  /** `[agent.kata]` values used here. */
  agent: {
    dialTimeoutMs: number;
    reconnectTimeoutMs: number;
    /** `request_timeout_ms` (default: the agent client's, 30 s as upstream). */
    requestTimeoutMs?: number;
    healthCheckTimeoutMs: number;
    kernelModules: string[];
  };
  /** `[hypervisor.*] guest_hook_path`. */
  guestHookPath?: string;
  /** `startVm` timeout. */
  startTimeoutMs?: number;
  /**
   * `[runtime] keep_abnormal`: recorded in state.json, so that `shim delete`
   * after a lost shim keeps the sandbox (VMM, mounts, files) for debugging.
   */
  keepAbnormal?: boolean;
  /** Health check period (30 s upstream). */
  healthIntervalMs?: number;
  /** Runs OCI hooks (tests may record). */
  runHooks?: (hooks: readonly OciHook[], state: OciState, kind: string) => Promise<void>;
  /** Sleep for the UpdateInterface retry (tests pass an instant one). */
  sleep?: (ms: number) => Promise<void>;
  /** Observes each step as it completes (tests record the order). */
  onStep?: (step: StartStep) => void;
  /** Run from boot to the sandbox's end: guest log forwarder, management socket. */
  services?: SandboxService[];
}

/** Something that runs beside a booted sandbox until it ends (started in `sandbox_services`). */
export interface SandboxService {
  readonly name: string;
  start(sandbox: VirtSandbox): Promise<void> | void;
  stop(): Promise<void> | void;
}

/** Callbacks from a running sandbox to its runtime. */
export interface SandboxEvents {
  /** The VM ended without being asked to. */
  onVmExit(exit: VmExit): void;
  /** The guest reported an OOM kill in a container. */
  onOom(containerId: string): void;
}

/** A sandbox's state in its lifecycle. */
type SandboxStatus = "new" | "starting" | "running" | "stopping" | "stopped";

/** One VM sandbox. */
export class VirtSandbox {
  readonly devices: DeviceManager;
  /** Direct volumes its containers hold (one container per volume at a time). */
  readonly directVolumes = new DirectVolumeClaims();
  #status: SandboxStatus = "new";
  #agent: AgentApi | undefined;
  readonly #undo: UndoStack;
  #health: ReturnType<typeof setInterval> | undefined;
  #vmWatch: VmDeathWatch | undefined;
  #stopping = false;
  #createdAt: string | undefined;

  constructor(readonly parts: SandboxParts, readonly events: SandboxEvents) {
    this.devices = new DeviceManager(parts.hypervisor);
    this.#undo = new UndoStack(parts.id);
  }

  get id(): string {
    return this.parts.id;
  }

  get status(): SandboxStatus {
    return this.#status;
  }

  /** The connected agent; throws before start. */
  get agent(): AgentApi {
    if (!this.#agent) {
      throw new FailedPreconditionError(`Sandbox ${this.id} has no agent connection`);
    }
    return this.#agent;
  }

  async #step(
    step: StartStep,
    run: () => Promise<void>,
    undo?: () => Promise<void> | void,
    phase: UndoPhase = "stop",
  ) {
    log.debug("sandbox {id}: {step}", { id: this.id, step });
    const watch = this.#status === "starting" ? this.#vmWatch : undefined;
    await (watch ? watch.failFast(step, run()) : run());
    if (undo) this.#undo.push(step, phase, undo);
    this.parts.onStep?.(step);
  }

  /** Runs the start steps of the module doc; on failure undoes the done ones and rethrows. */
  async start(): Promise<void> {
    if (this.#status !== "new") {
      throw new FailedPreconditionError(`Sandbox ${this.id} was started already`);
    }
    this.#status = "starting";
    const p = this.parts;
    const hv = p.hypervisor;
    const sink = networkSink(hv, this.devices);
    // A stale sandbox of this id first (same clean-up order); a failure refuses the start.
    await cleanupStaleSandbox(p.store, p.id).catch((e) => {
      this.#status = "stopped";
      throw e;
    });
    try {
      await this.#step(
        "prepare_vm",
        () =>
          hv.prepareVm({
            id: p.id,
            netnsPath: p.netnsPath,
            annotations: p.annotations,
          }),
        // A prepared VMM may already run (QEMU): stopped before anything is unmounted
        // (start_vm's undo does it once the VM started), its files removed last.
        () => this.#vmWatch ? undefined : hv.stopVm(),
      );
      this.#undo.push("prepare_vm", "remove", () => hv.cleanup());
      await this.#step(
        "attach_share_fs",
        () => p.shareFs.attach(this.devices),
        () => p.shareFs.detach(),
        "unmount",
      );
      await this.#step("attach_network", async () => {
        if (!p.network) return;
        await p.network.attach(sink);
        // The pod's CNI links exist already (containerd's CRI plugin made
        // them): cold-plug their NICs now, while every driver still takes
        // devices. A driver that boots in startVm (the built-in VMM) could
        // not take them at boot_vm; only links made later by hooks queue.
        await p.network.flushQueued(sink);
      }, async () => {
        if (p.network) await p.network.detach(sink);
      });
      await this.#step("start_vm", async () => {
        await hv.startVm(p.startTimeoutMs ?? 10_000);
        this.#watchVm();
      }, () => hv.stopVm());
      await this.#step(
        "sandbox_cgroup",
        () => {
          if (p.cgroup) {
            p.cgroup.create();
            p.cgroup.addPids(hv.pids());
          }
          return Promise.resolve();
        },
        () => p.cgroup?.destroy(),
        "remove",
      );
      const prestart = hooksOf(p.spec, "prestart");
      const createRuntime = hooksOf(p.spec, "createRuntime");
      const hadHooks = prestart.length + createRuntime.length > 0;
      await this.#step("oci_hooks", async () => {
        if (!hadHooks) return;
        const state: OciState = {
          ociVersion: String(p.spec.ociVersion ?? "1.0.2"),
          id: p.id,
          status: "creating",
          pid: hv.pids()[0] ?? 0,
          bundle: p.bundle,
          annotations: p.annotations,
        };
        const run = p.runHooks ?? runHooks;
        await run(prestart, state, "prestart");
        await run(createRuntime, state, "createRuntime");
      });
      await this.#step("rescan_network", async () => {
        if (hadHooks && p.network) await p.network.attach(sink);
      });
      await this.#step("boot_vm", async () => {
        if (p.network) await p.network.flushQueued(sink);
        await this.devices.boot();
      });
      await this.#step("sandbox_services", async () => {
        for (const svc of p.services ?? []) {
          await svc.start(this);
          this.#undo.push(`service ${svc.name}`, "stop", () => svc.stop());
        }
      });
      await this.#step("connect_agent", async () => {
        this.#agent = await p.dialAgent(hv.agentSocket(), {
          dialTimeoutMs: p.agent.dialTimeoutMs,
          reconnectTimeoutMs: p.agent.reconnectTimeoutMs,
          requestTimeoutMs: p.agent.requestTimeoutMs,
        });
        if (hv.templateClone?.()) await giveCloneIdentity(this.agent);
      }, () => {
        this.#agent?.close();
        this.#agent = undefined;
      });
      await this.#step("setup_network", async () => {
        if (p.network) {
          await setupGuestNetwork(this.agent, p.network, p.sleep, hv.templateClone?.()?.nicMac);
        }
      });
      await this.#step("create_sandbox", async () => {
        await this.agent.createSandbox({
          hostname: p.hostname,
          dns: p.dns,
          storages: p.shareFs.storages(),
          sandboxPidns: false,
          sandboxId: p.id,
          guestHookPath: p.guestHookPath ?? "",
          kernelModules: p.agent.kernelModules.map((m) => {
            const [name, ...parameters] = m.trim().split(/\s+/);
            return { name, parameters };
          }),
        });
      });
      await this.#step("guest_details", async () => {
        const d = await this.agent.getGuestDetails({ memBlockSize: true, memHotplugProbe: false });
        log.info("sandbox {id}: agent {version}", {
          id: p.id,
          version: d.agentDetails?.version ?? "?",
        });
      });
      this.#status = "running";
      await this.#step("watchers", () => {
        this.#startWatchers();
        return Promise.resolve();
      }, () => this.#stopWatchers());
      await this.#step(
        "save_state",
        () => this.save([]),
        () => removeFile(p.store.pathOf(p.id)),
        "remove",
      );
    } catch (e) {
      log.error("sandbox {id} failed to start: {e}", { id: p.id, e: String(e) });
      await logVcpuReport(p.hypervisor, p.id);
      this.#status = "stopping";
      this.#stopping = true;
      await this.#unwind().catch((u) =>
        log.warn("sandbox {id}: cleanup after the failed start: {u}", { id: p.id, u: String(u) })
      );
      this.#status = "stopped";
      try {
        removeTreeSafely(p.store.dirOf(p.id));
      } catch (r) {
        log.warn("sandbox {id}: {r}", { id: p.id, r: String(r) });
      }
      throw e;
    }
  }

  #watchVm(): void {
    this.#vmWatch = new VmDeathWatch(
      this.parts.hypervisor,
      this.id,
      () => this.#stopping,
      (exit) => this.events.onVmExit(exit),
    );
  }

  #startWatchers(): void {
    const agent = this.agent;
    (async () => {
      while (!this.#stopping) {
        try {
          const ev = await agent.getOOMEvent({}, NO_DEADLINE);
          if (this.#stopping) break;
          if (ev.containerId) this.events.onOom(ev.containerId);
        } catch (e) {
          if (this.#stopping) break;
          log.debug("sandbox {id}: GetOOMEvent: {e}", { id: this.id, e: String(e) });
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    })();
    const interval = this.parts.healthIntervalMs ?? 30_000;
    this.#health = setInterval(() => {
      agent.check({ service: "" }, { timeoutMs: this.parts.agent.healthCheckTimeoutMs })
        .catch((e) => {
          if (!this.#stopping) {
            log.warn("sandbox {id}: agent health check failed: {e}", { id: this.id, e: String(e) });
          }
        });
    }, interval);
    Deno.unrefTimer(this.#health);
  }

  #stopWatchers(): void {
    this.#stopping = true;
    if (this.#health !== undefined) clearInterval(this.#health);
    this.#health = undefined;
  }

  /** Writes state.json with the given containers. */
  async save(containers: ContainerState[]): Promise<void> {
    const p = this.parts;
    const saved = await p.store.save({
      sandbox_id: p.id,
      runtime: "virt_container",
      hypervisor: p.hypervisor.saveState(),
      containers,
      network_endpoints: [],
      resources: {
        share_fs: shareFsRecord(p.shareFs),
        ...(p.cgroup ? { cgroup: { path: p.cgroup.path, dirs: p.cgroup.dirs() } } : {}),
        ...(p.keepAbnormal ? { debug: { keep_abnormal: true } } : {}),
      },
      created_at: this.#createdAt,
    });
    this.#createdAt = saved.created_at;
  }

  async #unwind(): Promise<void> {
    this.#stopWatchers();
    await this.#undo.unwind(this.parts.store.dirOf(this.id), async () => {
      await this.#vmWatch?.done;
    });
  }

  /**
   * Ends the sandbox: everything start did is undone, newest first (agent,
   * watchers, VM, cgroup, network, shared fs, driver files, state). Safe to
   * call twice and after a VM death.
   */
  async stop(): Promise<void> {
    if (this.#status === "stopped" || this.#status === "new") return;
    this.#status = "stopping";
    this.#stopping = true;
    try {
      await this.#unwind();
    } finally {
      this.#status = "stopped";
    }
    // The sandbox directory goes last, and only when nothing is mounted in it any more.
    removeTreeSafely(this.parts.store.dirOf(this.id));
  }
}

async function removeFile(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}
