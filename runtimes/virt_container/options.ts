/**
 * Options of the VirtContainer runtime's handler: the configuration, how the
 * agent is dialled, and (grouped, for tests only) the parts tests replace.
 * @module
 */
import type { LoadedConfig } from "../../config/load.ts";
import type { HypervisorConfig } from "../../config/schema.ts";
import type { Hypervisor } from "../../hypervisor/hypervisor.ts";
import type { StateStore } from "../../persist/state_store.ts";
import type { SandboxCgroup } from "../../resource/cgroups/sandbox_cgroup.ts";
import type { ContainerStats, EventSink } from "../handler.ts";
import type { AgentDialer } from "./agent_api.ts";
import type { OciHook, OciState } from "./hooks.ts";
import type { SandboxNetwork, StartStep } from "./sandbox.ts";

/** Options of the VirtContainer handler. */
export interface VirtContainerOptions {
  /** The loaded configuration (`[runtime] name = "virt_container"`). */
  config: LoadedConfig;
  /** Connects to the agent of a started VM. */
  dialAgent: AgentDialer;
  /** Receives task events in order. */
  events?: EventSink;
  /** Reloads the configuration with the sandbox's annotations applied (none: `config` as is). */
  reloadWithAnnotations?: (annotations: Record<string, string>) => Promise<LoadedConfig>;
  /** State store (default root `/run/kata` or `KATA_PERSIST_ROOT`). */
  store?: StateStore;
  /** Replacements of real parts, for tests only; the shim never sets them. */
  testHooks?: VirtContainerTestHooks;
}

/**
 * The parts a test replaces (each defaults to the real one): the VMM, the
 * pod network, the sandbox cgroup, the host's OCI hook runner, retry sleeps,
 * the block-device probe and the cgroup metrics reader; plus an observer of
 * the sandbox start steps.
 */
export interface VirtContainerTestHooks {
  /** Builds the VM driver (default `hypervisor/factory.ts`'s createHypervisor). */
  hypervisorFactory?: (name: string, config: HypervisorConfig, runRoot: string) => Hypervisor;
  /** Builds the pod network of a netns (default: `resource/network`'s NetworkResource). */
  networkFactory?: (netns: string, config: LoadedConfig) => SandboxNetwork;
  /** Builds the sandbox cgroup (default: a real one; `null` to skip). */
  cgroupFactory?: (path: string) => SandboxCgroup | null;
  /** Runs OCI hooks (default: hooks.ts's runHooks; tests record). */
  runHooks?: (hooks: readonly OciHook[], state: OciState, kind: string) => Promise<void>;
  /** Sleep used by retries (tests pass an instant one). */
  sleep?: (ms: number) => Promise<void>;
  /** Observes each sandbox start step. */
  onStep?: (step: StartStep) => void;
  /** Tells block devices apart (default: stat). */
  isBlockDevice?: (path: string) => boolean;
  /** Reads a host process's cgroup metrics (SandboxMetrics; default: the host's cgroup files). */
  readMetrics?: (pid: number) => ContainerStats;
}
