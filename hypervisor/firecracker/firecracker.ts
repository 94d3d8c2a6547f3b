/**
 * The Firecracker driver. Firecracker has no device hotplug, so:
 * - `prepareVm` spawns the VMM and configures boot source, machine, the
 *   rootfs drive, five placeholder drives and the hybrid vsock (sent once);
 * - `startVm` only checks the VMM is up;
 * - NICs added before boot are queued and sent in `bootVm`, which runs after
 *   the OCI hooks and the netns rescan, right before `InstanceStart`;
 * - block devices later re-point a placeholder drive (PUT before boot,
 *   PATCH after).
 * @module
 */
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
  UnimplementedError,
} from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import type { BlockDevice, Device, NetworkDevice } from "../device.ts";
import { implicitDeviceId, newDeviceId, refuseTapFds, validateDevice } from "../device.ts";
import type {
  AgentSocket,
  Capabilities,
  Hypervisor,
  HypervisorState,
  PrepareVmOptions,
  VcpuResize,
  VmExit,
  VmState,
} from "../hypervisor.ts";
import { VmmProcess } from "../vmm_process.ts";
import { FirecrackerApi, toFcRateLimiter } from "./api.ts";
import {
  firecrackerBootArgs,
  firecrackerLaunch,
  type FirecrackerOptions,
  type FirecrackerPaths,
  firecrackerPaths,
  PLACEHOLDER_DRIVES,
} from "./options.ts";
import { removeTree } from "../../persist/remove_tree.ts";

const log = getLogger("hypervisor.firecracker");

/** Guest CID Kata uses for every Firecracker VM (the socket path tells VMs apart). */
export const FC_GUEST_CID = 3;
/** Kata agent port. */
export const AGENT_PORT = 1024;

/** Firecracker behind the {@link Hypervisor} interface. */
export class Firecracker implements Hypervisor {
  readonly kind = "firecracker" as const;
  readonly #o: FirecrackerOptions;
  #state: VmState = "not_ready";
  #id = "";
  #netns: string | null = null;
  #paths: FirecrackerPaths | null = null;
  #api: FirecrackerApi | null = null;
  #proc: VmmProcess | null = null;
  /** NICs waiting for boot, by device id, in add order. */
  readonly #pendingNics = new Map<string, NetworkDevice & { id: string }>();
  /** Placeholder slot (1..5) → the block device using it. */
  readonly #slots = new Map<number, BlockDevice & { id: string }>();
  /** Files bind-mounted into the jail, unmounted on cleanup. */
  readonly #jailMounts: string[] = [];

  constructor(options: FirecrackerOptions) {
    if (options.networkQueues > 1) {
      throw new InvalidArgumentError(
        `Invalid [hypervisor.firecracker] network_queues ${options.networkQueues}: ` +
          `Firecracker opens taps single-queue, set network_queues = 1`,
      );
    }
    this.#o = options;
  }

  state(): VmState {
    return this.#state;
  }

  capabilities(): Capabilities {
    return {
      blockDevice: true,
      blockHotplug: false,
      netHotplug: false,
      fsSharing: false,
      hybridVsock: true,
      memoryProbe: false,
      agentBlockDriver: "mmioblk",
    };
  }

  agentSocket(): AgentSocket {
    return { kind: "hvsock", path: this.#need("agent socket").hvsock, port: AGENT_PORT };
  }

  pids(): number[] {
    return this.#proc && !this.#proc.exited ? [this.#proc.pid] : [];
  }

  async prepareVm(opts: PrepareVmOptions): Promise<void> {
    if (this.#state !== "not_ready") {
      throw new FailedPreconditionError(
        `Cannot prepare Firecracker VM "${opts.id}": already prepared`,
      );
    }
    const o = this.#o;
    const paths = firecrackerPaths(o, opts.id);
    this.#id = opts.id;
    this.#netns = opts.netnsPath ?? null;
    this.#paths = paths;
    await Deno.mkdir(paths.runDir, { recursive: true, mode: 0o750 });
    await Deno.mkdir(paths.rootDir, { recursive: true, mode: 0o750 });
    // A stale socket from an earlier run would make the VMM fail to bind.
    await removeIfExists(paths.apiSocket);
    await removeIfExists(paths.hvsock);
    for (let i = 1; i <= PLACEHOLDER_DRIVES; i++) {
      await Deno.writeFile(`${paths.rootDir}/drive${i}`, new Uint8Array());
    }
    const kernel = await this.#intoJail(o.kernel, "vmlinux");
    const image = o.image ? await this.#intoJail(o.image, "rootfs") : "";
    const initrd = o.initrd ? await this.#intoJail(o.initrd, "initrd") : "";

    this.#spawn(firecrackerLaunch(o, opts.id, paths, this.#netns ?? undefined));
    this.#api = new FirecrackerApi(paths.apiSocket, { connectAttempts: o.apiConnectAttempts });
    try {
      await this.#whileAlive(this.#api.instanceInfo());
      const boot = {
        kernel_image_path: kernel,
        boot_args: firecrackerBootArgs(o),
        ...(initrd ? { initrd_path: initrd } : {}),
      };
      await this.#whileAlive(this.#api.putBootSource(boot));
      await this.#whileAlive(
        this.#api.putMachineConfig({ vcpu_count: o.vcpus, mem_size_mib: o.memoryMib }),
      );
      if (image) {
        await this.#whileAlive(this.#api.putDrive({
          drive_id: "rootfs",
          path_on_host: image,
          is_root_device: false,
          is_read_only: true,
        }));
      }
      for (let i = 1; i <= PLACEHOLDER_DRIVES; i++) {
        await this.#whileAlive(this.#api.putDrive({
          drive_id: `drive${i}`,
          path_on_host: this.#vmmPath(`${paths.rootDir}/drive${i}`),
          is_root_device: false,
          is_read_only: false,
        }));
      }
      // Hybrid vsock, declared once here; a later vsock device is accepted, not re-sent.
      await this.#whileAlive(
        this.#api.putVsock({
          guest_cid: FC_GUEST_CID,
          uds_path: paths.hvsockForVmm,
          vsock_id: "root",
        }),
      );
    } catch (e) {
      await this.stopVm();
      throw e;
    }
    this.#state = "prepared";
    log.info("Firecracker VM {id} prepared (pid {pid})", { id: opts.id, pid: this.#proc?.pid });
  }

  /** Nothing to start: the VMM runs since prepare, and the guest boots in {@link bootVm}. */
  startVm(_timeoutMs: number): Promise<void> {
    if (this.#state !== "prepared") {
      return Promise.reject(
        new FailedPreconditionError(
          `Cannot start Firecracker VM "${this.#id}": it is ${this.#state}, not prepared`,
        ),
      );
    }
    if (this.#proc?.exited) {
      return Promise.reject(
        new UnavailableError(`Firecracker VM "${this.#id}" exited: ${this.#proc.tail()}`),
      );
    }
    this.#state = "started";
    return Promise.resolve();
  }

  /** Sends the queued NICs, then `InstanceStart`. */
  async bootVm(): Promise<void> {
    if (this.#state !== "started") {
      throw new FailedPreconditionError(
        `Cannot boot Firecracker VM "${this.#id}": it is ${this.#state}, not started`,
      );
    }
    const api = this.#api!;
    for (const nic of this.#pendingNics.values()) {
      await this.#whileAlive(api.putNetworkInterface({
        iface_id: nic.id,
        host_dev_name: nic.tapName,
        guest_mac: nic.guestMac,
        ...rateLimiters(nic, this.#o),
      }));
      log.info("NIC {id} (tap {tap}) configured", { id: nic.id, tap: nic.tapName });
    }
    this.#pendingNics.clear();
    await this.#whileAlive(api.action("InstanceStart"));
    this.#state = "running";
    log.info("Firecracker VM {id} booted", { id: this.#id });
  }

  async stopVm(): Promise<void> {
    if (this.#proc) await this.#proc.kill();
    if (this.#state !== "not_ready") this.#state = "stopped";
  }

  waitVm(): Promise<VmExit> {
    if (!this.#proc) {
      return Promise.reject(
        new FailedPreconditionError(`Cannot wait for Firecracker VM "${this.#id}": not started`),
      );
    }
    return this.#proc.exit;
  }

  async pauseVm(): Promise<void> {
    this.#needRunning("pause");
    await this.#api!.setVmState("Paused");
  }

  async resumeVm(): Promise<void> {
    this.#needRunning("resume");
    await this.#api!.setVmState("Resumed");
  }

  async addDevice(d: Device): Promise<Device> {
    validateDevice(d);
    refuseTapFds(d, "Firecracker");
    const id = implicitDeviceId(d) ?? newDeviceId();
    if (this.#state === "not_ready" || this.#state === "stopped") {
      throw new FailedPreconditionError(
        `Cannot add ${d.kind} device "${id}" to Firecracker VM "${this.#id}": it is ${this.#state}`,
      );
    }
    switch (d.kind) {
      case "network":
        return this.#addNic({ ...d, id });
      case "block":
        return await this.#addBlock({ ...d, id });
      case "vsock":
        if (!d.udsPath) {
          throw new InvalidArgumentError(
            `Cannot add vsock device "${id}": Firecracker supports only hybrid vsock (a Unix socket)`,
          );
        }
        // Already declared in prepareVm; a second PUT /vsock would be refused.
        return { ...d, guestCid: FC_GUEST_CID, udsPath: this.#paths!.hvsock };
      case "share_fs":
        throw new UnimplementedError(
          `Cannot add shared file system "${d.mountTag}": Firecracker has no virtio-fs or 9p, ` +
            `files must be copied into the guest`,
        );
      case "vfio":
        throw new UnimplementedError(`Cannot add VFIO device ${d.bdf}: VFIO is not supported`);
    }
  }

  async removeDevice(d: Device): Promise<void> {
    const id = implicitDeviceId(d) ?? "";
    if (this.#state === "stopped" || this.#state === "not_ready") {
      // The VM is gone: nothing of the device is left in it.
      this.#pendingNics.delete(id);
      for (const [slot, b] of this.#slots) if (b.id === id) this.#slots.delete(slot);
      return;
    }
    if (d.kind === "network") {
      if (this.#pendingNics.delete(id)) return;
      throw new UnimplementedError(
        `Cannot remove network device "${id}": Firecracker cannot unplug devices from a booted VM`,
      );
    }
    if (d.kind === "block") {
      const slot = this.#slotOf(id);
      await this.#pointDrive(slot, `${this.#paths!.rootDir}/drive${slot}`, false, undefined);
      this.#slots.delete(slot);
      return;
    }
    throw new UnimplementedError(`Cannot remove ${d.kind} device "${id}" from Firecracker`);
  }

  async updateDevice(d: Device): Promise<void> {
    validateDevice(d);
    const id = implicitDeviceId(d) ?? "";
    if (d.kind === "block") {
      const slot = this.#slotOf(id);
      await this.#pointDrive(slot, d.path, d.readOnly, d.rateLimiter ?? this.#o.diskRateLimiter);
      this.#slots.set(slot, { ...d, id, index: slot });
      return;
    }
    if (d.kind === "network") {
      if (this.#pendingNics.has(id)) {
        this.#pendingNics.set(id, { ...d, id });
        return;
      }
      if (this.#state !== "running") throw new NotFoundError(`Network device "${id}" not found`);
      await this.#api!.patchNetworkInterface({ iface_id: id, ...rateLimiters(d, this.#o) });
      return;
    }
    throw new UnimplementedError(`Cannot update ${d.kind} device "${id}" on Firecracker`);
  }

  resizeVcpu(n: number): Promise<VcpuResize> {
    return Promise.reject(
      new UnimplementedError(
        `Cannot resize Firecracker VM to ${n} vCPUs: Firecracker has no vCPU hotplug`,
      ),
    );
  }

  resizeMemory(mib: number): Promise<number> {
    return Promise.reject(
      new UnimplementedError(`Cannot resize Firecracker VM memory to ${mib} MiB: not supported`),
    );
  }

  async cleanup(): Promise<void> {
    await this.stopVm();
    const p = this.#paths;
    if (!p) return;
    for (const target of this.#jailMounts.splice(0).reverse()) await unmount(target);
    if (p.jailed) {
      // The jail holds bind mounts: unmount, prove, then remove (never through a mount).
      await removeTree(p.vmPath);
      return;
    }
    // vmPath is the sandbox directory shared with state.json: remove only our files.
    await removeTree(p.runDir);
    await removeIfExists(p.hvsock);
    for (let i = 1; i <= PLACEHOLDER_DRIVES; i++) await removeIfExists(`${p.rootDir}/drive${i}`);
    await Deno.remove(p.rootDir).catch(() => {/* not empty: someone else's files */});
  }

  saveState(): HypervisorState {
    const p = this.#need("state");
    return {
      hypervisor_type: "firecracker",
      pid: this.#proc?.pid ?? null,
      pid_start: this.#proc?.startTime ?? null,
      // With the start time, proves the pid is still this VMM before a later kill.
      pid_exe: this.#proc?.identity()?.exe ?? null,
      uuid: "",
      api_socket: p.apiSocket,
      id: this.#id,
      vm_path: p.vmPath,
      jailed: p.jailed,
      jailer_root: p.jailed ? this.#o.runRoot : "",
      netns: this.#netns,
      run_dir: p.runDir,
      owned_paths: p.jailed ? [p.vmPath] : [
        p.runDir,
        p.hvsock,
        ...Array.from({ length: PLACEHOLDER_DRIVES }, (_, i) => `${p.rootDir}/drive${i + 1}`),
      ],
      owned_empty_dirs: p.jailed ? [] : [p.rootDir],
      config: this.#o,
    };
  }

  // ---- internals ----

  #need(what: string): FirecrackerPaths {
    if (!this.#paths) {
      throw new FailedPreconditionError(`Firecracker VM has no ${what} before prepareVm`);
    }
    return this.#paths;
  }

  #needRunning(op: string): void {
    if (this.#state !== "running") {
      throw new FailedPreconditionError(
        `Cannot ${op} Firecracker VM "${this.#id}": it is ${this.#state}, not running`,
      );
    }
  }

  #addNic(nic: NetworkDevice & { id: string }): NetworkDevice {
    if (nic.queues > 1) {
      throw new InvalidArgumentError(
        `Cannot add network device "${nic.id}" with ${nic.queues} queues: ` +
          `Firecracker opens taps single-queue, set network_queues = 1`,
      );
    }
    if (this.#state === "running") {
      throw new FailedPreconditionError(
        `Cannot add network device "${nic.id}" (tap ${nic.tapName}) to Firecracker VM ` +
          `"${this.#id}": it is already booted and Firecracker has no network hotplug`,
      );
    }
    if (this.#pendingNics.has(nic.id)) {
      throw new InvalidArgumentError(`Network device "${nic.id}" is already queued`);
    }
    this.#pendingNics.set(nic.id, nic);
    log.debug("NIC {id} (tap {tap}) queued until boot", { id: nic.id, tap: nic.tapName });
    return nic;
  }

  async #addBlock(d: BlockDevice & { id: string }): Promise<BlockDevice> {
    if (d.isVmRootfs || d.index === 0) {
      if (d.path !== this.#o.image) {
        throw new InvalidArgumentError(
          `Cannot add block device "${d.id}" as the VM rootfs: Firecracker boots ${this.#o.image}`,
        );
      }
      return { ...d, index: 0, guestPath: "/dev/vda" };
    }
    let slot = d.index;
    if (slot !== undefined) {
      if (slot > PLACEHOLDER_DRIVES) {
        throw new InvalidArgumentError(
          `Cannot add block device "${d.id}" at index ${slot}: Firecracker has ${PLACEHOLDER_DRIVES} drive slots`,
        );
      }
      if (this.#slots.has(slot)) {
        throw new InvalidArgumentError(`Cannot add block device "${d.id}": drive${slot} is in use`);
      }
    } else {
      for (let i = 1; i <= PLACEHOLDER_DRIVES && slot === undefined; i++) {
        if (!this.#slots.has(i)) slot = i;
      }
      if (slot === undefined) {
        throw new UnavailableError(
          `Cannot add block device "${d.id}": all ${PLACEHOLDER_DRIVES} Firecracker drive slots are in use`,
        );
      }
    }
    await this.#pointDrive(slot, d.path, d.readOnly, d.rateLimiter ?? this.#o.diskRateLimiter);
    const added = { ...d, index: slot, guestPath: `/dev/vd${String.fromCharCode(97 + slot)}` };
    this.#slots.set(slot, added);
    return added;
  }

  /** Points placeholder drive N at a file: PUT before boot, PATCH after. */
  async #pointDrive(
    slot: number,
    hostPath: string,
    readOnly: boolean,
    limiter: BlockDevice["rateLimiter"],
  ): Promise<void> {
    const paths = this.#paths!;
    let path = hostPath;
    if (paths.jailed) {
      // The VMM sees only the jail: bind the file over the placeholder.
      const target = `${paths.rootDir}/drive${slot}`;
      if (this.#jailMounts.includes(target)) {
        await unmount(target);
        this.#jailMounts.splice(this.#jailMounts.indexOf(target), 1);
      }
      if (hostPath !== target) await this.#bind(hostPath, target);
      path = `drive${slot}`;
    }
    const rate_limiter = toFcRateLimiter(limiter);
    const driveId = `drive${slot}`;
    if (this.#state === "running") {
      await this.#api!.patchDrive({ drive_id: driveId, path_on_host: path, rate_limiter });
    } else {
      await this.#api!.putDrive({
        drive_id: driveId,
        path_on_host: path,
        is_root_device: false,
        is_read_only: readOnly,
        ...(rate_limiter ? { rate_limiter } : {}),
      });
    }
  }

  #slotOf(id: string): number {
    for (const [slot, d] of this.#slots) if (d.id === id) return slot;
    throw new NotFoundError(`Block device "${id}" not found on Firecracker VM "${this.#id}"`);
  }

  /** Path of a host file as the VMM sees it (relative to the jail when jailed). */
  #vmmPath(hostPath: string): string {
    const p = this.#paths!;
    return p.jailed ? hostPath.slice(p.rootDir.length + 1) : hostPath;
  }

  /** Makes a host file visible to the VMM: itself, or bind-mounted into the jail as `name`. */
  async #intoJail(hostPath: string, name: string): Promise<string> {
    const p = this.#paths!;
    if (!p.jailed) return hostPath;
    const target = `${p.rootDir}/${name}`;
    await Deno.writeFile(target, new Uint8Array());
    await this.#bind(hostPath, target);
    return name;
  }

  async #bind(src: string, target: string): Promise<void> {
    await Deno.writeFile(target, new Uint8Array(), { create: true, append: true });
    const out = await new Deno.Command("mount", {
      args: ["--bind", src, target],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new UnavailableError(
        `Cannot bind ${src} into the Firecracker jail: ${
          new TextDecoder().decode(out.stderr).trim()
        }`,
      );
    }
    this.#jailMounts.push(target);
  }

  #spawn(launch: { cmd: string; args: string[] }): void {
    const proc = VmmProcess.spawn({ ...launch, log, name: "Firecracker", stdoutIs: "output" });
    this.#proc = proc;
    proc.exit.then(() => {
      if (this.#state !== "not_ready") this.#state = "stopped";
    });
  }

  /** Runs an API call, failing at once (with the VMM's last words) if the VMM exits first. */
  #whileAlive<T>(p: Promise<T>): Promise<T> {
    return this.#proc!.whileAlive(p, `sandbox "${this.#id}"`);
  }
}

function rateLimiters(nic: NetworkDevice, o: FirecrackerOptions) {
  const rx = toFcRateLimiter(nic.rxRateLimiter ?? o.rxRateLimiter);
  const tx = toFcRateLimiter(nic.txRateLimiter ?? o.txRateLimiter);
  return { ...(rx ? { rx_rate_limiter: rx } : {}), ...(tx ? { tx_rate_limiter: tx } : {}) };
}

async function removeIfExists(path: string): Promise<void> {
  await Deno.remove(path).catch(ignoreNotFound);
}

function ignoreNotFound(e: unknown): void {
  if (!(e instanceof Deno.errors.NotFound)) throw e;
}

async function unmount(target: string): Promise<void> {
  const out = await new Deno.Command("umount", { args: [target], stderr: "piped" }).output();
  if (!out.success) {
    log.warn("cannot unmount {target}: {err}", {
      target,
      err: new TextDecoder().decode(out.stderr).trim(),
    });
  }
}
