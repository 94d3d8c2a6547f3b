/**
 * A container of the VirtContainer runtime and its host-side resources: the
 * rootfs (shared by filesystem or attached as a block device) and its
 * volumes, attached before CreateContainer and released after removal.
 * @module
 */
import { UnimplementedError } from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import type { AgentBlockDriver, Hypervisor } from "../../hypervisor/hypervisor.ts";
import {
  type AttachedRootfs,
  attachRootfs,
  detachRootfs,
  type RootfsMount,
} from "../../resource/rootfs/rootfs.ts";
import { ContainerVolumes, type OciMount } from "../../resource/volume/volume.ts";
import type { CreateContainerRequest } from "../handler.ts";
import { stdioOf, TaskProcess } from "../process.ts";
import type { AgentApi } from "./agent_api.ts";
import type { AgentIo } from "./agent_io.ts";
import { hooksOf, type OciHook, type OciState, runHooks } from "./hooks.ts";
import { toAgentSpec } from "./oci_convert.ts";
import { podShm, SANDBOX_SHM_GUEST } from "./shm.ts";
import type { VirtSandbox } from "./sandbox.ts";

const log = getLogger("runtimes.virt_container");

/**
 * A process in the VM (its init or an exec). Its pid is the VMM's: guest pids
 * mean nothing on the host.
 */
export type VirtProcess = TaskProcess<AgentIo>;

/** A container in the sandbox VM, with its init process, execs and host resources. */
export class VirtContainer {
  readonly execs = new Map<string, VirtProcess>();
  /** Whether the guest has it (CreateContainer succeeded and no RemoveContainer yet). */
  inGuest = false;
  constructor(
    readonly id: string,
    readonly bundle: string,
    readonly init: VirtProcess,
    readonly rootfs: AttachedRootfs,
    readonly volumes: ContainerVolumes,
    readonly isSandbox: boolean,
    /** The container's OCI spec (its poststart/poststop hooks run on the host). */
    readonly spec: Record<string, unknown>,
  ) {}
}

/** The agent's block driver for a VM's disks, as its driver reports it. */
function agentBlockDriverOf(hv: Hypervisor): AgentBlockDriver {
  const driver = hv.capabilities().agentBlockDriver;
  if (!driver) throw new UnimplementedError(`Block devices on ${hv.kind} are not supported`);
  return driver;
}

/**
 * Attaches the rootfs of `req` to the sandbox and sets up (unprepared) volumes;
 * returns the container, not yet in the guest.
 */
export async function attachContainer(
  sb: VirtSandbox,
  req: CreateContainerRequest,
  spec: Record<string, unknown>,
  isSandbox: boolean,
  isBlockDevice?: (path: string) => boolean,
): Promise<VirtContainer> {
  const hv = sb.parts.hypervisor;
  const layout = sb.parts.shareFs.layout;
  const blockDriver = agentBlockDriverOf(hv);
  const rootfs = await attachRootfs({
    cid: req.id,
    mounts: req.rootfs.map((m): RootfsMount => ({
      type: m.type,
      source: m.source,
      options: m.options,
    })),
    bundle: req.bundle,
    specRootPath: String(((spec.root ?? {}) as { path?: string }).path ?? "rootfs"),
    layout,
    shared: sb.parts.shareFs.shared,
    blockDevices: hv.capabilities().blockDevice,
    blockDriver,
    devices: sb.devices,
    isBlockDevice,
  });
  const volumes = new ContainerVolumes(
    req.id,
    layout,
    sb.parts.shareFs.shared,
    hv.capabilities().blockDevice
      ? { devices: sb.devices, blockDriver, claims: sb.directVolumes }
      : undefined,
  );
  const init = new TaskProcess<AgentIo>(req.id, "", stdioOf(req));
  const c = new VirtContainer(req.id, req.bundle, init, rootfs, volumes, isSandbox, spec);
  const devices = ((spec.linux ?? {}) as { devices?: unknown[] }).devices ?? [];
  if (devices.length > 0) {
    log.warn(
      "container {cid}: {n} host device node(s) in linux.devices are not passed to the VM",
      {
        cid: req.id,
        n: devices.length,
      },
    );
  }
  return c;
}

/**
 * Prepares the volumes of `c` (copying files the guest cannot share) and
 * creates it in the guest; on success the container is marked in the guest.
 */
export async function createInGuest(
  agent: AgentApi,
  c: VirtContainer,
  o: { disableGuestSeccomp: boolean; timeoutMs: number },
): Promise<void> {
  const mountinfo = await Deno.readTextFile("/proc/self/mountinfo").catch(() => "");
  const shm = podShm((c.spec.mounts ?? []) as OciMount[], c.isSandbox, mountinfo);
  // The shm bind names a guest path: it must not be shared from the host.
  const guestShm = shm.mounts.filter((m) => m.source === SANDBOX_SHM_GUEST);
  const mounts = [
    ...await c.volumes.prepare(
      shm.mounts.filter((m) => m.source !== SANDBOX_SHM_GUEST),
      (chunk) => agent.copyFile(chunk),
    ),
    ...guestShm,
  ];
  const oci = toAgentSpec(c.spec, {
    guestRootPath: c.rootfs.guestPath,
    mounts: mounts as unknown as Record<string, unknown>[],
    disableGuestSeccomp: o.disableGuestSeccomp,
  });
  await agent.createContainer({
    containerId: c.id,
    execId: "",
    OCI: oci,
    storages: [...c.rootfs.storages, ...c.volumes.storages, ...shm.storages],
    sandboxPidns: sharesSandboxPidns(c),
  }, { timeoutMs: o.timeoutMs });
  c.inGuest = true;
}

/**
 * Whether a pod container shares its sandbox's PID namespace (the pod's PID
 * option POD, Kubernetes shareProcessNamespace): the CRI plugin then gives
 * its spec the sandbox's PID namespace path, and the agent makes the guest
 * container join the sandbox container's (upstream's sandbox_pidns).
 */
export function sharesSandboxPidns(
  c: { isSandbox: boolean; spec: Record<string, unknown> },
): boolean {
  if (c.isSandbox) return false;
  const ns = ((c.spec.linux ?? {}) as { namespaces?: { type?: string; path?: string }[] })
    .namespaces ?? [];
  return ns.some((n) => n.type === "pid" && !!n.path);
}

/**
 * Releases a container's volumes and rootfs. `vmGone`: the VM is dead or
 * stopping, so devices are not unplugged from it.
 */
export async function releaseContainer(
  c: VirtContainer,
  sb: VirtSandbox | undefined,
  vmGone: boolean,
): Promise<void> {
  c.volumes.release();
  await c.volumes.detachBlock(vmGone || !sb);
  if (!sb) return;
  await detachRootfs(c.rootfs, sb.parts.shareFs.layout, sb.devices, vmGone);
}

/** Runs a container's poststart/poststop hooks on the host; failures are logged only, as the OCI spec says. */
export async function runPostHooks(
  c: VirtContainer,
  kind: "poststart" | "poststop",
  status: OciState["status"],
  runner: (hooks: readonly OciHook[], state: OciState, kind: string) => Promise<void> = runHooks,
): Promise<void> {
  const hooks = hooksOf(c.spec, kind);
  if (hooks.length === 0) return;
  const state: OciState = {
    ociVersion: String(c.spec.ociVersion ?? "1.0.2"),
    id: c.id,
    status,
    pid: c.init.pid,
    bundle: c.bundle,
    annotations: (c.spec.annotations ?? {}) as Record<string, string>,
  };
  try {
    await runner(hooks, state, kind);
  } catch (e) {
    log.warn("{kind} hook of {cid} failed: {e}", { kind, cid: c.id, e: String(e) });
  }
}
