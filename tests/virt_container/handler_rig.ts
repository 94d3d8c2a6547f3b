/**
 * A test rig of the VirtContainer handler: the handler over the recording
 * doubles (doubles.ts), a temporary root with bundles, and the checks that
 * nothing is left behind. Shared by the handler's and the pod's tests.
 * @module
 */
import { assert, assertEquals } from "../assert.ts";
import { loadConfig } from "../../config/mod.ts";
import type { LoadedConfig } from "../../config/load.ts";
import { StateStore } from "../../persist/state_store.ts";
import { mountsUnder } from "../../resource/share_fs/mounts.ts";
import type { TaskEvent } from "../../runtimes/events.ts";
import { VirtContainerHandler } from "../../runtimes/virt_container/handler.ts";
import type { VirtContainerTestHooks } from "../../runtimes/virt_container/options.ts";
import type { HypervisorConfig } from "../../config/schema.ts";
import { CallLog, RecordingAgent, RecordingHypervisor, RecordingNetwork } from "./doubles.ts";

/** A VirtContainer handler over the recording doubles, in a temporary root. */
export interface Rig {
  /** The handler's configuration (QEMU, 9p): a test may change it before a sandbox starts. */
  config: LoadedConfig;
  root: string;
  log: CallLog;
  agent: RecordingAgent;
  hvs: RecordingHypervisor[];
  /** The hypervisor configuration each VM was built with (static sizing applied). */
  hvConfigs: HypervisorConfig[];
  /** The pod network namespaces sandboxes were given. */
  netns: string[];
  events: TaskEvent[];
  handler: VirtContainerHandler;
  bundle(id: string, annotations?: Record<string, string>, extra?: Record<string, unknown>): string;
}

let config: LoadedConfig | undefined;

/**
 * A handler over the recording doubles with the shipped QEMU configuration
 * (9p sharing); OCI hooks are recorded into `hookLog`, poststart hooks fail.
 */
export async function rig(
  hookLog?: string[],
  hooks: Pick<VirtContainerTestHooks, "readMetrics"> = {},
): Promise<Rig> {
  config ??= await loadConfig({
    path: new URL("../../config/configuration-qemu.toml", import.meta.url).pathname,
  });
  const cfg: LoadedConfig = structuredClone(config);
  cfg.hypervisor!.shared_fs = "virtio-9p";
  const root = Deno.makeTempDirSync({ prefix: "virt-handler-" });
  const log = new CallLog();
  const agent = new RecordingAgent(log);
  const hvs: RecordingHypervisor[] = [];
  const hvConfigs: HypervisorConfig[] = [];
  const netns: string[] = [];
  const events: TaskEvent[] = [];
  const handler = new VirtContainerHandler({
    config: cfg,
    dialAgent: () => Promise.resolve(agent.api()),
    events: (e) => events.push(e),
    store: new StateStore({ root: `${root}/run` }),
    testHooks: {
      ...hooks,
      hypervisorFactory: (_name, hvConfig) => {
        const hv = new RecordingHypervisor(log);
        hvs.push(hv);
        hvConfigs.push(hvConfig);
        return hv;
      },
      networkFactory: (path) => {
        netns.push(path);
        return new RecordingNetwork(log);
      },
      cgroupFactory: () => null,
      sleep: () => Promise.resolve(),
      runHooks: (hooks, state, kind) => {
        hookLog?.push(`${kind}:${state.id}:${state.status}:${hooks.map((h) => h.path).join(",")}`);
        return kind === "poststart"
          ? Promise.reject(new Error("poststart broke"))
          : Promise.resolve();
      },
    },
  });
  const bundle = (id: string, annotations: Record<string, string> = {}, extra = {}) => {
    const b = `${root}/bundles/${id}`;
    Deno.mkdirSync(`${b}/rootfs/bin`, { recursive: true });
    Deno.writeTextFileSync(`${b}/rootfs/bin/sh`, "#!");
    Deno.writeTextFileSync(
      `${b}/config.json`,
      JSON.stringify({
        ociVersion: "1.0.2",
        process: { args: ["sh"], cwd: "/", user: { uid: 0, gid: 0 } },
        root: { path: "rootfs" },
        hostname: id,
        annotations,
        linux: { namespaces: [{ type: "pid" }, { type: "network" }] },
        ...extra,
      }),
    );
    return b;
  };
  return { config: cfg, root, log, agent, hvs, hvConfigs, netns, events, handler, bundle };
}

/** Stdio of a task: none, or stdout to `out`. */
export function stdio(out = "") {
  return { stdin: "", stdout: out, stderr: "", terminal: false };
}

/** Waits (about a second at most) until `cond` holds, else fails. */
export async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  assert(cond(), "condition not reached");
}

/** Checks that nothing is left mounted or in the run root, then removes the rig. */
export function finish(r: Rig) {
  assertEquals(mountsUnder(r.root), [], "no mount is left");
  // No run root at all: no sandbox ever started.
  const left = [...Deno.readDirSync(r.root)].some((e) => e.name === "run")
    ? [...Deno.readDirSync(`${r.root}/run`)]
    : [];
  assertEquals(left, [], "nothing is left in the run root");
  Deno.removeSync(r.root, { recursive: true });
}
