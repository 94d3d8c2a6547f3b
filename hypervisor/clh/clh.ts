/**
 * The Cloud Hypervisor driver: `prepareVm` spawns `cloud-hypervisor
 * --api-socket` (in the pod netns) and waits for `vmm.ping`; devices added
 * before start go into the `vm.create` body; `startVm` creates and boots the
 * VM (so `bootVm` is a no-op); later NICs, disks and virtio-fs shares are
 * hotplugged with `vm.add-*` and removed with `vm.remove-device`. The agent is
 * reached over hybrid vsock. Taps are opened by name (no fd passing).
 * @module
 */
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from "../../common/errors.ts";
import { AGENT_PORT } from "../../common/agent_port.ts";
import { getLogger } from "../../common/log.ts";
import { settleWithin } from "../../common/time.ts";
import type { BlockDevice, Device, NetworkDevice, ShareFsDevice } from "../device.ts";
import { implicitDeviceId } from "../device.ts";
import { ExternalVmm } from "../external_vmm.ts";
import type { AgentSocket, Capabilities, Hypervisor, HypervisorState } from "../hypervisor.ts";
import type { PrepareVmOptions, VmExit } from "../hypervisor.ts";
import { ClhApi } from "./api.ts";
import {
  clhDiskConfig,
  clhFsConfig,
  clhNetConfig,
  type ClhOptions,
  clhVmConfig,
} from "./options.ts";

const log = getLogger("hypervisor.clh");
/** How long Cloud Hypervisor may take to exit after `vmm.shutdown` before it is killed. */
const SHUTDOWN_GRACE_MS = 2000;

/** Cloud Hypervisor behind the {@link Hypervisor} interface. */
export class Clh extends ExternalVmm implements Hypervisor {
  declare readonly kind: "clh";
  readonly #o: ClhOptions;
  #api: ClhApi | null = null;

  constructor(options: ClhOptions) {
    super({
      kind: "clh",
      vmm: "Cloud Hypervisor",
      runRoot: options.runRoot,
      subdir: "clh",
      disableBlockDeviceUse: options.disableBlockDeviceUse,
      log,
    });
    this.#o = options;
  }

  capabilities(): Capabilities {
    return {
      blockDevice: !this.#o.disableBlockDeviceUse,
      blockHotplug: !this.#o.disableBlockDeviceUse,
      netHotplug: true,
      fsSharing: this.#o.sharedMemory,
      hybridVsock: true,
      // Not wired yet: the driver has no block-device path the agent could be told about.
      agentBlockDriver: null,
    };
  }

  agentSocket(): AgentSocket {
    if (!this.dir) {
      throw new FailedPreconditionError("Cloud Hypervisor VM has no agent socket before prepareVm");
    }
    return { kind: "hvsock", path: this.#hvsock(), port: AGENT_PORT };
  }

  async prepareVm(opts: PrepareVmOptions): Promise<void> {
    await this.prepareDir(opts);
    await Deno.remove(this.#apiSocket()).catch(() => {});
    await Deno.remove(this.#hvsock()).catch(() => {});
    const args = ["--api-socket", `path=${this.#apiSocket()}`];
    if (this.#o.debug) args.push("-v");
    if (this.#o.disableSeccomp) args.push("--seccomp", "false");
    const proc = this.spawnVmm(this.#o.path, args);
    this.#api = new ClhApi(this.#apiSocket());
    try {
      await this.#alive(this.#api.call("GET", "vmm.ping"));
    } catch (e) {
      await proc.kill();
      this.vm.moveTo("stopped");
      throw e;
    }
    this.vm.moveTo("prepared");
  }

  /** Creates the VM with the cold devices and boots it. */
  async startVm(_timeoutMs: number): Promise<void> {
    this.vm.require("start");
    const devs = [...this.devices.values()];
    const body = clhVmConfig(this.#o, this.#hvsock(), {
      disks: devs.filter((d): d is BlockDevice & { id: string } => d.kind === "block"),
      nets: devs.filter((d): d is NetworkDevice & { id: string } => d.kind === "network"),
      fs: devs.filter((d): d is ShareFsDevice & { id: string } => d.kind === "share_fs"),
    });
    try {
      await this.#alive(this.#api!.call("PUT", "vm.create", body));
      await this.#alive(this.#api!.call("PUT", "vm.boot"));
    } catch (e) {
      await this.stopVm();
      throw e;
    }
    this.vm.moveTo("running");
    log.info("Cloud Hypervisor VM {id} booted (pid {pid})", {
      id: this.vm.id,
      pid: this.proc!.pid,
    });
  }

  async stopVm(): Promise<void> {
    if (this.proc && !this.proc.exited && this.#api) {
      // Ask the VMM to exit; kill it if it does not answer.
      await this.#api.call("PUT", "vmm.shutdown").catch(() => {});
    }
    if (this.proc) {
      await settleWithin(this.proc.exit, SHUTDOWN_GRACE_MS);
      await this.proc.kill();
    }
    this.vm.stopped();
  }

  override waitVm(): Promise<VmExit> {
    return super.waitVm().then((s) => {
      this.vm.stopped();
      return s;
    });
  }

  async addDevice(d: Device): Promise<Device> {
    const dev = this.admit(d);
    if (d.kind === "vsock") {
      if (!d.udsPath) {
        throw new InvalidArgumentError(
          `Cannot add vsock device "${dev.id}": Cloud Hypervisor supports only hybrid vsock`,
        );
      }
      // Declared in vm.create once; report where it listens.
      return { ...d, guestCid: 3, udsPath: this.#hvsock() };
    }
    if (dev.kind === "share_fs") {
      if (!this.#o.sharedMemory) {
        throw new FailedPreconditionError(
          `Cannot share "${dev.mountTag}": shared_fs is not virtio-fs, so guest memory is not shared`,
        );
      }
      clhFsConfig(this.#o, dev); // refuses 9p before anything is recorded
    }
    if (this.vm.state === "prepared") {
      this.devices.set(dev.id, dev);
      return dev;
    }
    const api = this.#needRunning("hotplug into");
    const info = dev.kind === "network"
      ? await api.addDevice("net", clhNetConfig(this.#o, dev))
      : dev.kind === "block"
      ? await api.addDevice("disk", clhDiskConfig(this.#o, dev))
      : await api.addDevice("fs", clhFsConfig(this.#o, dev as ShareFsDevice & { id: string }));
    const added = { ...dev, ...(info?.bdf ? { guestPath: info.bdf } : {}) };
    this.devices.set(dev.id, added);
    return added;
  }

  async removeDevice(d: Device): Promise<void> {
    const id = implicitDeviceId(d) ?? "";
    if (!this.devices.has(id)) {
      if (this.vm.state === "stopped") return;
      throw new NotFoundError(`Device "${id}" not found on ${this.vm.what}`);
    }
    if (this.vm.state === "running") {
      await this.#needRunning("remove a device from").call("PUT", "vm.remove-device", { id });
    }
    this.devices.delete(id);
  }

  saveState(): HypervisorState {
    return this.savedState(this.#apiSocket(), { config: this.#o });
  }

  #apiSocket(): string {
    return `${this.dir}/api.sock`;
  }

  #hvsock(): string {
    return `${this.dir}/kata.hvsock`;
  }

  #alive<T>(p: Promise<T>): Promise<T> {
    return this.proc!.whileAlive(p, `sandbox "${this.vm.id}"`);
  }

  #needRunning(op: string): ClhApi {
    this.vm.require("operate", op);
    if (!this.#api) throw new FailedPreconditionError(`Cannot ${op} ${this.vm.what}: no API`);
    return this.#api;
  }
}
