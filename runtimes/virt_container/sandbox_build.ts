/**
 * Builds a {@link VirtSandbox} from the loaded configuration and the sandbox
 * container's OCI spec: static VM sizing, the hypervisor driver, the shared
 * filesystem, the pod network, the sandbox cgroup and the agent settings.
 * Nothing is started here; {@link VirtSandbox.start} does that.
 * @module
 */
import { FailedPreconditionError } from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import type { LoadedConfig } from "../../config/load.ts";
import { notImplementedKeys, notImplementedMessage } from "../../config/not_implemented.ts";
import type { HypervisorConfig } from "../../config/schema.ts";
import { createHypervisor } from "../../hypervisor/factory.ts";
import type { StateStore } from "../../persist/state_store.ts";
import {
  cgroupHierarchies,
  SandboxCgroup,
  sandboxCgroupPath,
  usableHierarchies,
} from "../../resource/cgroups/sandbox_cgroup.ts";
import { staticVmSize, workloadSize } from "../../resource/cpu_mem/static_sizing.ts";
import { parseModel } from "../../resource/network/classify.ts";
import { NetworkResource } from "../../resource/network/network_resource.ts";
import { SharedLayout } from "../../resource/share_fs/layout.ts";
import { chooseShareFs, ShareFs } from "../../resource/share_fs/share_fs.ts";
import type { VirtContainerOptions } from "./options.ts";
import { type SandboxEvents, type SandboxNetwork, VirtSandbox } from "./sandbox.ts";
import { dnsOf, netnsOf } from "./spec.ts";
import { guestLogService, monitorService } from "./sandbox_services.ts";
import { vcpuPinningService } from "./vcpu_pinning.ts";
import { sandboxBindMountsService } from "./sandbox_bind_mounts.ts";

const log = getLogger("runtimes.virt_container");

/**
 * The sandbox container (its id, bundle, OCI spec and annotations), or a
 * Sandbox API pod's spec synthesized from its PodConfig (pod_spec.ts), which
 * brings its DNS lines itself.
 */
export interface SandboxRequest {
  id: string;
  bundle: string;
  spec: Record<string, unknown>;
  annotations: Record<string, string>;
  /** resolv.conf lines; default: those of the spec's /etc/resolv.conf mount. */
  dns?: string[];
}

/** Assembles (without starting) the sandbox of `req` as `cfg` describes it. */
export function buildSandbox(
  req: SandboxRequest,
  cfg: LoadedConfig,
  o: VirtContainerOptions,
  store: StateStore,
  events: SandboxEvents,
): VirtSandbox {
  const { spec } = req;
  const t = o.testHooks ?? {};
  if (!cfg.hypervisor || !cfg.hypervisorName || !cfg.agent) {
    throw new FailedPreconditionError(`Configuration ${cfg.file} selects no hypervisor or agent`);
  }
  for (const k of notImplementedKeys(cfg)) {
    log.warn("sandbox {id}: {msg}", { id: req.id, msg: notImplementedMessage(k) });
  }
  const runtime = cfg.config.runtime;
  const hvConfig: HypervisorConfig = { ...cfg.hypervisor };
  if (runtime.static_sandbox_resource_mgmt) {
    const size = staticVmSize(
      { vcpus: hvConfig.default_vcpus || 1, memoryMib: hvConfig.default_memory || 2048 },
      workloadSize(spec),
      { vcpus: hvConfig.default_maxvcpus, memoryMib: hvConfig.default_maxmemory },
    );
    hvConfig.default_vcpus = size.vcpus;
    hvConfig.default_memory = size.memoryMib;
    if (size.capped) {
      log.warn(
        "sandbox {id}: the workload asks for more than default_maxvcpus {maxv} or " +
          "default_maxmemory {maxm} MiB: the VM gets those",
        {
          id: req.id,
          maxv: hvConfig.default_maxvcpus,
          maxm: hvConfig.default_maxmemory,
        },
      );
    }
    log.info("static sizing of {id}: {vcpus} vCPUs, {mem} MiB", {
      id: req.id,
      vcpus: size.vcpus,
      mem: size.memoryMib,
    });
  }
  const runRoot = store.root;
  const hv = (t.hypervisorFactory ?? ((n, c, r) => createHypervisor(n, c, { runRoot: r })))(
    cfg.hypervisorName,
    hvConfig,
    runRoot,
  );
  const layout = new SharedLayout(`${runRoot}/${req.id}`);
  const virtiofsd = hvConfig.virtio_fs_daemon;
  const caps = hv.capabilities();
  const shareKind = chooseShareFs(hvConfig.shared_fs, caps.fsSharing, caps.inlineVirtioFs);
  const shareFs = new ShareFs(layout, shareKind, {
    virtiofsd,
    cache: hvConfig.virtio_fs_cache,
    extraArgs: hvConfig.virtio_fs_extra_args,
    cacheSizeMib: hvConfig.virtio_fs_is_dax ? hvConfig.virtio_fs_cache_size : 0,
  });
  const netns = runtime.disable_new_netns ? undefined : netnsOf(spec);
  const network = netns ? (t.networkFactory ?? defaultNetwork)(netns, cfg) : undefined;
  const cgPath = sandboxCgroupPath(
    req.id,
    ((spec.linux ?? {}) as { cgroupsPath?: string }).cgroupsPath,
    runtime.sandbox_cgroup_only,
  );
  const cgroup = t.cgroupFactory ? t.cgroupFactory(cgPath) : defaultCgroup(cgPath);
  const agentCfg = cfg.agent;
  return new VirtSandbox({
    id: req.id,
    bundle: req.bundle,
    spec,
    netnsPath: netns,
    annotations: req.annotations,
    hostname: String(spec.hostname ?? ""),
    dns: req.dns ?? dnsOf(spec),
    hypervisor: hv,
    shareFs,
    network,
    cgroup: cgroup ?? undefined,
    dialAgent: o.dialAgent,
    store,
    agent: {
      dialTimeoutMs: agentCfg.dial_timeout_ms,
      reconnectTimeoutMs: agentCfg.reconnect_timeout_ms,
      requestTimeoutMs: agentCfg.request_timeout_ms,
      healthCheckTimeoutMs: agentCfg.health_check_request_timeout_ms,
      kernelModules: agentCfg.kernel_modules,
    },
    guestHookPath: hvConfig.guest_hook_path,
    keepAbnormal: runtime.keep_abnormal,
    runHooks: t.runHooks,
    sleep: t.sleep,
    onStep: t.onStep,
    services: [
      guestLogService(),
      monitorService({ hypervisorName: cfg.hypervisorName, memoryMib: hvConfig.default_memory }),
      vcpuPinningService(runtime.enable_vcpus_pinning, Math.ceil(hvConfig.default_vcpus || 1)),
      sandboxBindMountsService(runtime.sandbox_bind_mounts),
    ],
  }, events);
}

function defaultNetwork(netns: string, cfg: LoadedConfig): SandboxNetwork {
  return new NetworkResource(netns, {
    model: parseModel(cfg.config.runtime.internetworking_model || "tcfilter"),
    queues: cfg.hypervisor?.network_queues || 1,
  });
}

function defaultCgroup(path: string): SandboxCgroup | null {
  const hierarchies = usableHierarchies(cgroupHierarchies());
  if (hierarchies.length === 0) {
    log.warn("no cgroup hierarchy is mounted: the VMM runs without a sandbox cgroup");
    return null;
  }
  return new SandboxCgroup(path, hierarchies);
}
