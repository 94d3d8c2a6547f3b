/**
 * The QEMU driver: devices added before start go on the command line; QEMU is
 * spawned in `startVm` (inside the pod netns through `nsenter`, since Deno
 * cannot setns between fork and exec) and boots at once, so `bootVm` is a
 * no-op; later devices are hotplugged through QMP onto PCIe root ports. The
 * serial console (QEMU's stdout) goes to the shim log.
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
import type { Device } from "../device.ts";
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
import { qemuCommandLine, type QemuOptions } from "./options.ts";
import { QemuHotplug, type Tracked } from "./hotplug.ts";
import { QemuResizer } from "./resize.ts";
import { VmmProcess } from "../vmm_process.ts";
import { QmpClient } from "./qmp.ts";
import { allocateVsockCid } from "./vsock_cid.ts";

const log = getLogger("hypervisor.qemu");
const AGENT_PORT = 1024;
const QUIT_GRACE_MS = 2000;

/** Things the driver needs from the host, replaceable in tests. */
export interface QemuHostDeps {
  /** Picks the vhost-vsock CID (default: probe /dev/vhost-vsock). */
  allocateCid?: () => number;
}

/** Options that only matter on test machines. */
export interface QemuTestKnobs {
  /** Leave out vhost-vsock (hosts without /dev/vhost-vsock); the VM then has no agent socket. */
  noVhostVsock?: boolean;
}

/** QEMU behind the {@link Hypervisor} interface. */
export class Qemu implements Hypervisor {
  readonly kind = "qemu" as const;
  readonly #o: QemuOptions;
  readonly #deps: QemuHostDeps;
  readonly #knobs: QemuTestKnobs;
  #state: VmState = "not_ready";
  #id = "";
  #netns: string | null = null;
  #vmPath = "";
  #dir = "";
  #cid = 0;
  #proc: VmmProcess | null = null;
  #qmp: QmpClient | null = null;
  /** Every device the VM has (cold and hot), by id. */
  readonly #devices = new Map<string, Tracked>();
  readonly #hotplug: QemuHotplug;
  readonly #resizer: QemuResizer;

  constructor(options: QemuOptions, deps: QemuHostDeps = {}, knobs: QemuTestKnobs = {}) {
    this.#o = options;
    this.#deps = deps;
    this.#knobs = knobs;
    this.#hotplug = new QemuHotplug(options);
    this.#resizer = new QemuResizer(options);
  }

  state(): VmState {
    return this.#state;
  }

  capabilities(): Capabilities {
    return {
      blockDevice: !this.#o.disableBlockDeviceUse,
      blockHotplug: !this.#o.disableBlockDeviceUse,
      netHotplug: true,
      fsSharing: true,
      hybridVsock: false,
      memoryProbe: false,
      agentBlockDriver: this.#o.blockDeviceDriver === "virtio-scsi" ? "scsi" : "blk",
    };
  }

  agentSocket(): AgentSocket {
    if (!this.#cid) {
      throw new FailedPreconditionError(`QEMU VM "${this.#id}" has no vsock agent socket`);
    }
    return { kind: "vsock", cid: this.#cid, port: AGENT_PORT };
  }

  pids(): number[] {
    return this.#proc && !this.#proc.exited ? [this.#proc.pid] : [];
  }

  async prepareVm(opts: PrepareVmOptions): Promise<void> {
    if (this.#state !== "not_ready") {
      throw new FailedPreconditionError(`Cannot prepare QEMU VM "${opts.id}": already prepared`);
    }
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(opts.id) || opts.id.length > 64) {
      throw new InvalidArgumentError(`Invalid sandbox id ${JSON.stringify(opts.id)} for QEMU`);
    }
    this.#id = opts.id;
    this.#netns = opts.netnsPath ?? null;
    this.#vmPath = `${this.#o.runRoot}/${opts.id}`;
    this.#dir = `${this.#vmPath}/qemu`;
    await Deno.mkdir(this.#dir, { recursive: true, mode: 0o750 });
    await Deno.remove(this.#qmpSocket()).catch(() => {});
    if (!this.#knobs.noVhostVsock) this.#cid = (this.#deps.allocateCid ?? allocateVsockCid)();
    this.#state = "prepared";
  }

  /** Spawns QEMU with the cold devices and waits for QMP; the guest boots now. */
  async startVm(timeoutMs: number): Promise<void> {
    if (this.#state !== "prepared") {
      throw new FailedPreconditionError(
        `Cannot start QEMU VM "${this.#id}": it is ${this.#state}, not prepared`,
      );
    }
    const o = this.#o;
    const imageSize = o.image && o.vmRootfsDriver === "virtio-pmem"
      ? (await Deno.stat(o.image)).size
      : 0;
    const { args, placements } = qemuCommandLine(o, {
      id: this.#id,
      qmpSocket: this.#qmpSocket(),
      vsockCid: this.#cid,
      imageSize,
      devices: [...this.#devices.values()],
    });
    const finalArgs = this.#knobs.noVhostVsock ? dropVhostVsock(args) : args;
    for (const [id, p] of placements) this.#devices.get(id)!.guestPath = p.guestPath;
    this.#spawn(finalArgs);
    const proc = this.#proc!;
    const what = `sandbox "${this.#id}"`;
    try {
      this.#qmp = await QmpClient.connect(this.#qmpSocket(), {
        timeoutMs,
        abandon: proc.exit.then((s) => {
          throw proc.diedError(what, s);
        }),
      });
      this.#qmp.onEvent((e) => {
        if (e.event === "SHUTDOWN" || e.event === "GUEST_PANICKED") {
          log.info("QEMU of {id}: {event} {data}", {
            id: this.#id,
            event: e.event,
            data: JSON.stringify(e.data ?? {}),
          });
        }
      });
      const st = await this.#qmp.queryStatus();
      if (!st.running) {
        throw new UnavailableError(`QEMU VM "${this.#id}" did not start running: ${st.status}`);
      }
    } catch (e) {
      // If QEMU died on its own, its stderr says why better than the socket error.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const died = await Promise.race([
        proc.exit,
        new Promise<null>((r) => timer = setTimeout(() => r(null), 1000)),
      ]);
      clearTimeout(timer);
      await this.stopVm();
      if (died && !(e instanceof UnavailableError && e.message.includes("exited"))) {
        throw proc.diedError(what, died);
      }
      throw e;
    }
    this.#state = "running";
    log.info("QEMU VM {id} started (pid {pid})", { id: this.#id, pid: proc.pid });
  }

  /** QEMU boots in {@link startVm}; nothing is left to do. */
  bootVm(): Promise<void> {
    if (this.#state !== "running") {
      return Promise.reject(
        new FailedPreconditionError(`Cannot boot QEMU VM "${this.#id}": it is ${this.#state}`),
      );
    }
    return Promise.resolve();
  }

  async stopVm(): Promise<void> {
    if (this.#proc && !this.#proc.exited) {
      if (this.#qmp) {
        // Ask politely first so QEMU flushes its files; kill if it does not go.
        const quit = this.#qmp.quit().catch(() => {});
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          Promise.all([quit, this.#proc.exit]),
          new Promise((r) => timer = setTimeout(r, QUIT_GRACE_MS)),
        ]);
        clearTimeout(timer);
      }
    }
    if (this.#proc) await this.#proc.kill();
    this.#qmp?.close();
    this.#qmp = null;
    if (this.#state !== "not_ready") this.#state = "stopped";
  }

  waitVm(): Promise<VmExit> {
    if (!this.#proc) {
      return Promise.reject(
        new FailedPreconditionError(`Cannot wait for QEMU VM "${this.#id}": not started`),
      );
    }
    return this.#proc.exit;
  }

  async pauseVm(): Promise<void> {
    await this.#needQmp("pause").stop();
  }

  async resumeVm(): Promise<void> {
    await this.#needQmp("resume").cont();
  }

  async addDevice(d: Device): Promise<Device> {
    validateDevice(d);
    refuseTapFds(d, "QEMU");
    const id = implicitDeviceId(d) ?? newDeviceId();
    if (this.#state === "not_ready" || this.#state === "stopped") {
      throw new FailedPreconditionError(
        `Cannot add ${d.kind} device "${id}" to QEMU VM "${this.#id}": it is ${this.#state}`,
      );
    }
    if (this.#devices.has(id)) {
      throw new InvalidArgumentError(`Cannot add ${d.kind} device "${id}": id already in use`);
    }
    if (d.kind === "vfio") {
      throw new UnimplementedError(`Cannot add VFIO device ${d.bdf}: VFIO is not supported`);
    }
    if (d.kind === "vsock") {
      // The vhost-vsock device is part of every VM; report the CID it has.
      return { ...d, guestCid: this.#cid };
    }
    if (d.kind === "block" && this.#o.disableBlockDeviceUse) {
      throw new FailedPreconditionError(
        `Cannot add block device "${id}": disable_block_device_use is set`,
      );
    }
    if (this.#state === "prepared") {
      this.#devices.set(id, { ...d, id });
      return { ...d, id };
    }
    const qmp = this.#needQmp("hotplug into");
    const added = await this.#hotplug.plug(qmp, { ...d, id }, this.#devices.values());
    this.#devices.set(id, added);
    return added;
  }

  async removeDevice(d: Device): Promise<void> {
    const id = implicitDeviceId(d) ?? "";
    const dev = this.#devices.get(id);
    if (!dev) throw new NotFoundError(`Device "${id}" not found on QEMU VM "${this.#id}"`);
    if (this.#state === "prepared" || this.#state === "stopped") {
      this.#devices.delete(id);
      return;
    }
    await this.#hotplug.unplug(this.#needQmp("remove a device from"), dev);
    this.#devices.delete(id);
  }

  updateDevice(d: Device): Promise<void> {
    return Promise.reject(
      new UnimplementedError(`Cannot update ${d.kind} device "${d.id ?? ""}" in place on QEMU`),
    );
  }

  /** Hotplugs or unplugs vCPUs through `query-hotpluggable-cpus` / `device_add`. */
  async resizeVcpu(n: number): Promise<VcpuResize> {
    const qmp = this.#needQmp("resize vCPUs of");
    return await this.#resizer.resizeVcpu(qmp, this.#id, n);
  }

  /** Grows guest memory by plugging a DIMM; shrinking is not supported. */
  async resizeMemory(mib: number): Promise<number> {
    const qmp = this.#needQmp("resize memory of");
    // With virtio-fs the daemon maps guest RAM: new memory must be shared like the boot RAM.
    const shared = [...this.#devices.values()].some((d) =>
      d.kind === "share_fs" && d.fsType === "virtio-fs"
    );
    return await this.#resizer.resizeMemory(qmp, this.#id, mib, shared);
  }

  async cleanup(): Promise<void> {
    await this.stopVm();
    if (this.#dir) await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }

  saveState(): HypervisorState {
    if (!this.#dir) throw new FailedPreconditionError("QEMU VM has no state before prepareVm");
    return {
      hypervisor_type: "qemu",
      pid: this.#proc?.pid ?? null,
      pid_start: this.#proc?.startTime ?? null,
      uuid: "",
      api_socket: this.#qmpSocket(),
      id: this.#id,
      vm_path: this.#vmPath,
      jailed: false,
      jailer_root: "",
      netns: this.#netns,
      run_dir: this.#dir,
      owned_paths: [this.#dir],
      vsock_cid: this.#cid,
      config: this.#o,
    };
  }

  // ---- internals ----

  #qmpSocket(): string {
    return `${this.#dir}/qmp.sock`;
  }

  #needQmp(op: string): QmpClient {
    if (this.#state !== "running" || !this.#qmp) {
      throw new FailedPreconditionError(
        `Cannot ${op} QEMU VM "${this.#id}": it is ${this.#state}, not running`,
      );
    }
    return this.#qmp;
  }

  #spawn(args: string[]): void {
    const proc = VmmProcess.spawn({
      cmd: this.#o.path,
      args,
      netnsPath: this.#netns ?? undefined,
      log,
      name: "QEMU",
      stdoutIs: "console",
    });
    this.#proc = proc;
    proc.exit.then(() => {
      if (this.#state !== "not_ready") this.#state = "stopped";
    });
  }
}

/** Removes the vhost-vsock device from an argv (hosts without /dev/vhost-vsock, tests only). */
function dropVhostVsock(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "-device" && args[i + 1]?.startsWith("vhost-vsock-pci,")) {
      i++;
      continue;
    }
    out.push(args[i]);
  }
  return out;
}
