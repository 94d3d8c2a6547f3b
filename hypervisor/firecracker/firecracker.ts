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
import { AGENT_PORT } from "../../common/agent_port.ts";
import { getLogger } from "../../common/log.ts";
import type { BlockDevice, Device, NetworkDevice } from "../device.ts";
import { implicitDeviceId } from "../device.ts";
import { ExternalVmm, type PlacedDevice } from "../external_vmm.ts";
import type { AgentSocket, Capabilities, Hypervisor, HypervisorState } from "../hypervisor.ts";
import type { PrepareVmOptions } from "../hypervisor.ts";
import { BOOTS_IN_BOOT } from "../vm_lifecycle.ts";
import { FirecrackerApi, toFcRateLimiter } from "./api.ts";
import { DriveSlots, type DriveTarget, pointDrive } from "./drive_slots.ts";
import { FirecrackerJail } from "./jail.ts";
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
const FC_GUEST_CID = 3;

/**
 * Firecracker behind the {@link Hypervisor} interface, on the shared
 * external-VMM base (state, VMM process, device admission, saved state).
 * NICs added before boot wait in the device table until {@link bootVm}.
 */
export class Firecracker extends ExternalVmm implements Hypervisor {
  declare readonly kind: "firecracker";
  readonly #o: FirecrackerOptions;
  #paths: FirecrackerPaths | null = null;
  #api: FirecrackerApi | null = null;
  readonly #slots = new DriveSlots();
  #jail: FirecrackerJail | null = null;

  constructor(options: FirecrackerOptions) {
    super({
      kind: "firecracker",
      vmm: "Firecracker",
      runRoot: options.runRoot,
      subdir: "run",
      disableBlockDeviceUse: false,
      log,
      rules: BOOTS_IN_BOOT,
      stdoutIs: "output",
    });
    if (options.networkQueues > 1) {
      throw new InvalidArgumentError(
        `Invalid [hypervisor.firecracker] network_queues ${options.networkQueues}: ` +
          `Firecracker opens taps single-queue, set network_queues = 1`,
      );
    }
    this.#o = options;
  }

  capabilities(): Capabilities {
    return {
      blockDevice: true,
      blockHotplug: false,
      netHotplug: false,
      fsSharing: false,
      hybridVsock: true,
      agentBlockDriver: "mmioblk",
    };
  }

  agentSocket(): AgentSocket {
    return { kind: "hvsock", path: this.#need("agent socket").hvsock, port: AGENT_PORT };
  }

  async prepareVm(opts: PrepareVmOptions): Promise<void> {
    const o = this.#o;
    // The jailer (or runtime-rs's plain layout) decides where the VM lives.
    await this.prepareDir(opts, (id) => {
      const p = this.#paths = firecrackerPaths(o, id);
      return { vmPath: p.vmPath, dir: p.runDir };
    });
    const paths = this.#paths!;
    const jail = this.#jail = new FirecrackerJail(paths);
    await Deno.mkdir(paths.rootDir, { recursive: true, mode: 0o750 });
    // A stale socket from an earlier run would make the VMM fail to bind.
    await removeIfExists(paths.apiSocket);
    await removeIfExists(paths.hvsock);
    for (let i = 1; i <= PLACEHOLDER_DRIVES; i++) {
      await Deno.writeFile(`${paths.rootDir}/drive${i}`, new Uint8Array());
    }
    const kernel = await jail.bringIn(o.kernel, "vmlinux");
    const image = o.image ? await jail.bringIn(o.image, "rootfs") : "";
    const initrd = o.initrd ? await jail.bringIn(o.initrd, "initrd") : "";

    // The launch enters the netns itself (nsenter, or the jailer's --netns).
    const launch = firecrackerLaunch(o, opts.id, paths, this.netns ?? undefined);
    this.spawnVmm(launch.cmd, launch.args, false);
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
          path_on_host: jail.vmmPath(`${paths.rootDir}/drive${i}`),
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
    this.vm.moveTo("prepared");
    log.info("Firecracker VM {id} prepared (pid {pid})", { id: opts.id, pid: this.proc?.pid });
  }

  /** Nothing to start: the VMM runs since prepare, and the guest boots in {@link bootVm}. */
  startVm(_timeoutMs: number): Promise<void> {
    try {
      this.vm.require("start");
      if (this.proc?.exited) {
        throw new UnavailableError(`${this.vm.what} exited: ${this.proc.tail()}`);
      }
      this.vm.moveTo("started");
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.resolve();
  }

  /** Sends the queued NICs, in the order they were added, then `InstanceStart`. */
  override async bootVm(): Promise<void> {
    this.vm.require("boot");
    const api = this.#api!;
    for (const nic of this.devices.values()) {
      if (nic.kind !== "network") continue;
      await this.#whileAlive(api.putNetworkInterface({
        iface_id: nic.id,
        host_dev_name: nic.tapName,
        guest_mac: nic.guestMac,
        ...rateLimiters(nic, this.#o),
      }));
      log.info("NIC {id} (tap {tap}) configured", { id: nic.id, tap: nic.tapName });
    }
    await this.#whileAlive(api.action("InstanceStart"));
    this.vm.moveTo("running");
    log.info("Firecracker VM {id} booted", { id: this.vm.id });
  }

  async stopVm(): Promise<void> {
    if (this.proc) await this.proc.kill();
    this.vm.stopped();
  }

  async addDevice(d: Device): Promise<Device> {
    const dev = this.admit(d);
    switch (dev.kind) {
      case "network":
        return this.#queueNic(dev);
      case "block":
        return await this.#addBlock(dev);
      case "vsock":
        if (!dev.udsPath) {
          throw new InvalidArgumentError(
            `Cannot add vsock device "${dev.id}": Firecracker supports only hybrid vsock (a Unix socket)`,
          );
        }
        // Already declared in prepareVm; a second PUT /vsock would be refused.
        return this.#keep({ ...dev, guestCid: FC_GUEST_CID, udsPath: this.#paths!.hvsock });
      case "share_fs":
        throw new UnimplementedError(
          `Cannot add shared file system "${dev.mountTag}": Firecracker has no virtio-fs or 9p, ` +
            `files must be copied into the guest`,
        );
    }
  }

  async removeDevice(d: Device): Promise<void> {
    const id = implicitDeviceId(d) ?? "";
    if (this.vm.state === "stopped" || this.vm.state === "not_ready") {
      // The VM is gone: nothing of the device is left in it.
      this.devices.delete(id);
      this.#slots.release(id);
      return;
    }
    if (d.kind === "network") {
      if (this.vm.state === "running") {
        throw new UnimplementedError(
          `Cannot remove network device "${id}": Firecracker cannot unplug devices from a booted VM`,
        );
      }
      if (!this.devices.delete(id)) {
        throw new NotFoundError(`Network device "${id}" not found on ${this.vm.what}`);
      }
      return;
    }
    if (d.kind === "block") {
      const slot = this.#slots.slotOf(id, this.vm.what);
      await this.#pointDrive(slot, {
        hostPath: `${this.#paths!.rootDir}/drive${slot}`,
        readOnly: false,
        limiter: undefined,
      });
      this.#slots.release(id);
      this.devices.delete(id);
      return;
    }
    throw new UnimplementedError(`Cannot remove ${d.kind} device "${id}" from Firecracker`);
  }

  override async cleanup(): Promise<void> {
    await this.stopVm();
    const p = this.#paths;
    if (!p) return;
    await this.#jail?.unmountAll();
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
    return this.savedState(p.apiSocket, {
      jailed: p.jailed,
      jailer_root: p.jailed ? this.#o.runRoot : "",
      owned_paths: p.jailed ? [p.vmPath] : [
        p.runDir,
        p.hvsock,
        ...Array.from({ length: PLACEHOLDER_DRIVES }, (_, i) => `${p.rootDir}/drive${i + 1}`),
      ],
      owned_empty_dirs: p.jailed ? [] : [p.rootDir],
      config: this.#o,
    });
  }

  // ---- internals ----

  #need(what: string): FirecrackerPaths {
    if (!this.#paths) {
      throw new FailedPreconditionError(`Firecracker VM has no ${what} before prepareVm`);
    }
    return this.#paths;
  }

  /** Files an admitted device in the table (for removal, and for the NICs sent at boot). */
  #keep<D extends PlacedDevice>(d: D): D {
    this.devices.set(d.id, d);
    return d;
  }

  #queueNic(nic: NetworkDevice & { id: string }): NetworkDevice {
    if (nic.queues > 1) {
      throw new InvalidArgumentError(
        `Cannot add network device "${nic.id}" with ${nic.queues} queues: ` +
          `Firecracker opens taps single-queue, set network_queues = 1`,
      );
    }
    if (this.vm.state === "running") {
      throw new FailedPreconditionError(
        `Cannot add network device "${nic.id}" (tap ${nic.tapName}) to ${this.vm.what}: ` +
          `it is already booted and Firecracker has no network hotplug`,
      );
    }
    log.debug("NIC {id} (tap {tap}) queued until boot", { id: nic.id, tap: nic.tapName });
    return this.#keep(nic);
  }

  async #addBlock(d: BlockDevice & { id: string }): Promise<BlockDevice> {
    if (d.isVmRootfs || d.index === 0) {
      if (d.path !== this.#o.image) {
        throw new InvalidArgumentError(
          `Cannot add block device "${d.id}" as the VM rootfs: Firecracker boots ${this.#o.image}`,
        );
      }
      return this.#keep({ ...d, index: 0, guestPath: "/dev/vda" });
    }
    const slot = this.#slots.pick(d);
    await this.#pointDrive(slot, {
      hostPath: d.path,
      readOnly: d.readOnly,
      limiter: d.rateLimiter ?? this.#o.diskRateLimiter,
    });
    const added = { ...d, index: slot, guestPath: DriveSlots.guestPath(slot) };
    this.#slots.set(slot, added);
    return this.#keep(added);
  }

  /** Points placeholder drive `slot` at a file: PUT before boot, PATCH after. */
  #pointDrive(slot: number, t: DriveTarget): Promise<void> {
    return pointDrive(this.#api!, this.#jail!, slot, t, this.vm.state === "running");
  }

  /** Runs an API call, failing at once (with the VMM's last words) if the VMM exits first. */
  #whileAlive<T>(p: Promise<T>): Promise<T> {
    return this.proc!.whileAlive(p, `sandbox "${this.vm.id}"`);
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
