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
  UnimplementedError,
} from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import type { BlockDevice, Device, NetworkDevice, ShareFsDevice } from "../device.ts";
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
import { ChApi } from "./api.ts";
import { chDiskConfig, chFsConfig, chNetConfig, type ChOptions, chVmConfig } from "./options.ts";

const log = getLogger("hypervisor.clh");
const AGENT_PORT = 1024;

type Tracked = Device & { id: string; guestPath?: string };

/** Cloud Hypervisor behind the {@link Hypervisor} interface. */
export class CloudHypervisor implements Hypervisor {
  readonly kind = "cloud-hypervisor" as const;
  readonly #o: ChOptions;
  #state: VmState = "not_ready";
  #id = "";
  #netns: string | null = null;
  #vmPath = "";
  #dir = "";
  #proc: VmmProcess | null = null;
  #api: ChApi | null = null;
  readonly #devices = new Map<string, Tracked>();
  #vcpus: number;
  #memoryMib: number;

  constructor(options: ChOptions) {
    this.#o = options;
    this.#vcpus = options.vcpus;
    this.#memoryMib = options.memoryMib;
  }

  state(): VmState {
    return this.#state;
  }

  capabilities(): Capabilities {
    return {
      blockDevice: !this.#o.disableBlockDeviceUse,
      blockHotplug: !this.#o.disableBlockDeviceUse,
      netHotplug: true,
      fsSharing: this.#o.sharedMemory,
      hybridVsock: true,
      memoryProbe: false,
      // Not wired yet: the driver has no block-device path the agent could be told about.
      agentBlockDriver: null,
    };
  }

  agentSocket(): AgentSocket {
    if (!this.#dir) {
      throw new FailedPreconditionError("Cloud Hypervisor VM has no agent socket before prepareVm");
    }
    return { kind: "hvsock", path: this.#hvsock(), port: AGENT_PORT };
  }

  pids(): number[] {
    return this.#proc && !this.#proc.exited ? [this.#proc.pid] : [];
  }

  async prepareVm(opts: PrepareVmOptions): Promise<void> {
    if (this.#state !== "not_ready") {
      throw new FailedPreconditionError(
        `Cannot prepare Cloud Hypervisor VM "${opts.id}": already prepared`,
      );
    }
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(opts.id) || opts.id.length > 64) {
      throw new InvalidArgumentError(
        `Invalid sandbox id ${JSON.stringify(opts.id)} for Cloud Hypervisor`,
      );
    }
    this.#id = opts.id;
    this.#netns = opts.netnsPath ?? null;
    this.#vmPath = `${this.#o.runRoot}/${opts.id}`;
    this.#dir = `${this.#vmPath}/clh`;
    await Deno.mkdir(this.#dir, { recursive: true, mode: 0o750 });
    await Deno.remove(this.#apiSocket()).catch(() => {});
    await Deno.remove(this.#hvsock()).catch(() => {});
    const args = ["--api-socket", `path=${this.#apiSocket()}`];
    if (this.#o.debug) args.push("-v");
    if (this.#o.disableSeccomp) args.push("--seccomp", "false");
    this.#proc = VmmProcess.spawn({
      cmd: this.#o.path,
      args,
      netnsPath: this.#netns ?? undefined,
      log,
      name: "Cloud Hypervisor",
      stdoutIs: "console",
    });
    this.#api = new ChApi(this.#apiSocket());
    try {
      await this.#alive(this.#api.call("GET", "vmm.ping"));
    } catch (e) {
      await this.#proc.kill();
      this.#state = "stopped";
      throw e;
    }
    this.#state = "prepared";
  }

  /** Creates the VM with the cold devices and boots it. */
  async startVm(_timeoutMs: number): Promise<void> {
    if (this.#state !== "prepared") {
      throw new FailedPreconditionError(
        `Cannot start Cloud Hypervisor VM "${this.#id}": it is ${this.#state}, not prepared`,
      );
    }
    const devs = [...this.#devices.values()];
    const body = chVmConfig(this.#o, this.#hvsock(), {
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
    this.#state = "running";
    log.info("Cloud Hypervisor VM {id} booted (pid {pid})", { id: this.#id, pid: this.#proc!.pid });
  }

  /** Cloud Hypervisor boots in {@link startVm}. */
  bootVm(): Promise<void> {
    if (this.#state !== "running") {
      return Promise.reject(
        new FailedPreconditionError(
          `Cannot boot Cloud Hypervisor VM "${this.#id}": it is ${this.#state}`,
        ),
      );
    }
    return Promise.resolve();
  }

  async stopVm(): Promise<void> {
    if (this.#proc && !this.#proc.exited && this.#api) {
      // Ask the VMM to exit; kill it if it does not answer.
      await this.#api.call("PUT", "vmm.shutdown").catch(() => {});
    }
    if (this.#proc) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.#proc.exit, new Promise((r) => timer = setTimeout(r, 2000))]);
      clearTimeout(timer);
      await this.#proc.kill();
    }
    if (this.#state !== "not_ready") this.#state = "stopped";
  }

  waitVm(): Promise<VmExit> {
    if (!this.#proc) {
      return Promise.reject(
        new FailedPreconditionError(
          `Cannot wait for Cloud Hypervisor VM "${this.#id}": not started`,
        ),
      );
    }
    return this.#proc.exit.then((s) => {
      if (this.#state !== "not_ready") this.#state = "stopped";
      return s;
    });
  }

  async pauseVm(): Promise<void> {
    await this.#needRunning("pause").call("PUT", "vm.pause");
  }

  async resumeVm(): Promise<void> {
    await this.#needRunning("resume").call("PUT", "vm.resume");
  }

  async addDevice(d: Device): Promise<Device> {
    validateDevice(d);
    refuseTapFds(d, "Cloud Hypervisor");
    const id = implicitDeviceId(d) ?? newDeviceId();
    if (this.#state === "not_ready" || this.#state === "stopped") {
      throw new FailedPreconditionError(
        `Cannot add ${d.kind} device "${id}" to Cloud Hypervisor VM "${this.#id}": it is ${this.#state}`,
      );
    }
    if (this.#devices.has(id)) {
      throw new InvalidArgumentError(`Cannot add ${d.kind} device "${id}": id already in use`);
    }
    switch (d.kind) {
      case "vfio":
        throw new UnimplementedError(`Cannot add VFIO device ${d.bdf}: VFIO is not supported`);
      case "vsock":
        if (!d.udsPath) {
          throw new InvalidArgumentError(
            `Cannot add vsock device "${id}": Cloud Hypervisor supports only hybrid vsock`,
          );
        }
        // Declared in vm.create once; report where it listens.
        return { ...d, guestCid: 3, udsPath: this.#hvsock() };
      case "share_fs":
        if (!this.#o.sharedMemory) {
          throw new FailedPreconditionError(
            `Cannot share "${d.mountTag}": shared_fs is not virtio-fs, so guest memory is not shared`,
          );
        }
        chFsConfig(this.#o, { ...d, id }); // refuses 9p before anything is recorded
        break;
      case "block":
        if (this.#o.disableBlockDeviceUse) {
          throw new FailedPreconditionError(
            `Cannot add block device "${id}": disable_block_device_use is set`,
          );
        }
    }
    const dev = { ...d, id } as Tracked;
    if (this.#state === "prepared") {
      this.#devices.set(id, dev);
      return dev;
    }
    const api = this.#needRunning("hotplug into");
    const info = d.kind === "network"
      ? await api.addDevice("net", chNetConfig(this.#o, dev as NetworkDevice & { id: string }))
      : d.kind === "block"
      ? await api.addDevice("disk", chDiskConfig(this.#o, dev as BlockDevice & { id: string }))
      : await api.addDevice("fs", chFsConfig(this.#o, dev as ShareFsDevice & { id: string }));
    const added = { ...dev, ...(info?.bdf ? { guestPath: info.bdf } : {}) };
    this.#devices.set(id, added);
    return added;
  }

  async removeDevice(d: Device): Promise<void> {
    const id = implicitDeviceId(d) ?? "";
    if (!this.#devices.has(id)) {
      if (this.#state === "stopped") return;
      throw new NotFoundError(`Device "${id}" not found on Cloud Hypervisor VM "${this.#id}"`);
    }
    if (this.#state === "running") {
      await this.#needRunning("remove a device from").call("PUT", "vm.remove-device", { id });
    }
    this.#devices.delete(id);
  }

  updateDevice(d: Device): Promise<void> {
    return Promise.reject(
      new UnimplementedError(
        `Cannot update ${d.kind} device "${d.id ?? ""}" in place on Cloud Hypervisor`,
      ),
    );
  }

  async resizeVcpu(n: number): Promise<VcpuResize> {
    const api = this.#needRunning("resize vCPUs of");
    if (!Number.isInteger(n) || n < 1 || n > this.#o.maxVcpus) {
      throw new InvalidArgumentError(
        `Cannot resize Cloud Hypervisor VM "${this.#id}" to ${n} vCPUs: allowed 1..${this.#o.maxVcpus}`,
      );
    }
    const old = this.#vcpus;
    if (n !== old) await api.call("PUT", "vm.resize", { desired_vcpus: n });
    this.#vcpus = n;
    return { old, new: n };
  }

  async resizeMemory(mib: number): Promise<number> {
    const api = this.#needRunning("resize memory of");
    if (!Number.isInteger(mib) || mib < this.#memoryMib || mib > this.#o.maxMemoryMib) {
      throw new InvalidArgumentError(
        `Cannot resize Cloud Hypervisor VM "${this.#id}" memory to ${mib} MiB: ` +
          `allowed ${this.#memoryMib}..${this.#o.maxMemoryMib} (no shrinking)`,
      );
    }
    if (mib !== this.#memoryMib) {
      await api.call("PUT", "vm.resize", { desired_ram: mib * 1024 * 1024 });
    }
    this.#memoryMib = mib;
    return mib;
  }

  async cleanup(): Promise<void> {
    await this.stopVm();
    if (this.#dir) await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }

  saveState(): HypervisorState {
    if (!this.#dir) {
      throw new FailedPreconditionError("Cloud Hypervisor VM has no state before prepareVm");
    }
    return {
      hypervisor_type: "cloud-hypervisor",
      pid: this.#proc?.pid ?? null,
      pid_start: this.#proc?.startTime ?? null,
      uuid: "",
      api_socket: this.#apiSocket(),
      id: this.#id,
      vm_path: this.#vmPath,
      jailed: false,
      jailer_root: "",
      netns: this.#netns,
      run_dir: this.#dir,
      owned_paths: [this.#dir],
      config: this.#o,
    };
  }

  #apiSocket(): string {
    return `${this.#dir}/api.sock`;
  }

  #hvsock(): string {
    return `${this.#dir}/kata.hvsock`;
  }

  #alive<T>(p: Promise<T>): Promise<T> {
    return this.#proc!.whileAlive(p, `sandbox "${this.#id}"`);
  }

  #needRunning(op: string): ChApi {
    if (this.#state !== "running" || !this.#api) {
      throw new FailedPreconditionError(
        `Cannot ${op} Cloud Hypervisor VM "${this.#id}": it is ${this.#state}, not running`,
      );
    }
    return this.#api;
  }
}
