/**
 * The QEMU driver: devices added before start go on the command line; QEMU is
 * spawned in `startVm` (inside the pod netns through `nsenter`, since Deno
 * cannot setns between fork and exec) and boots at once, so `bootVm` is a
 * no-op; later devices are hotplugged through QMP onto PCIe root ports
 * (hotplug.ts). The serial
 * console (QEMU's stdout) goes to the shim log.
 * @module
 */
import { FailedPreconditionError, NotFoundError, UnavailableError } from "../../common/errors.ts";
import { AGENT_PORT } from "../../common/agent_port.ts";
import { getLogger } from "../../common/log.ts";
import { settleWithin, within } from "../../common/time.ts";
import { implicitDeviceId } from "../device.ts";
import type { Device } from "../device.ts";
import { ExternalVmm } from "../external_vmm.ts";
import type { AgentSocket, Capabilities, Hypervisor } from "../hypervisor.ts";
import type { HypervisorState, PrepareVmOptions } from "../hypervisor.ts";
import { qemuCommandLine } from "./command_line.ts";
import type { QemuOptions } from "./options.ts";
import { QemuHotplug } from "./hotplug.ts";
import { QmpClient } from "./qmp.ts";
import { vcpuReport } from "./vcpu_report.ts";
import { allocateVsockCid } from "./vsock_cid.ts";

const log = getLogger("hypervisor.qemu");
const QUIT_GRACE_MS = 2000;

/** Things the driver needs from the host, replaceable in tests. */
interface QemuHostDeps {
  /** Picks the vhost-vsock CID (default: probe /dev/vhost-vsock). */
  allocateCid?: () => number;
}

/** Options that only matter on test machines. */
interface QemuTestKnobs {
  /** Leave out vhost-vsock (hosts without /dev/vhost-vsock); the VM then has no agent socket. */
  noVhostVsock?: boolean;
}

/** QEMU behind the {@link Hypervisor} interface. */
export class Qemu extends ExternalVmm implements Hypervisor {
  declare readonly kind: "qemu";
  readonly #o: QemuOptions;
  readonly #deps: QemuHostDeps;
  readonly #knobs: QemuTestKnobs;
  #cid = 0;
  #qmp: QmpClient | null = null;
  readonly #hotplug: QemuHotplug;

  constructor(options: QemuOptions, deps: QemuHostDeps = {}, knobs: QemuTestKnobs = {}) {
    super({
      kind: "qemu",
      vmm: "QEMU",
      runRoot: options.runRoot,
      subdir: "qemu",
      disableBlockDeviceUse: options.disableBlockDeviceUse,
      log,
    });
    this.#o = options;
    this.#deps = deps;
    this.#knobs = knobs;
    this.#hotplug = new QemuHotplug(options);
  }

  capabilities(): Capabilities {
    return {
      blockDevice: !this.#o.disableBlockDeviceUse,
      blockHotplug: !this.#o.disableBlockDeviceUse,
      netHotplug: true,
      fsSharing: true,
      hybridVsock: false,
      agentBlockDriver: this.#o.blockDeviceDriver === "virtio-scsi" ? "scsi" : "blk",
    };
  }

  agentSocket(): AgentSocket {
    if (!this.#cid) {
      throw new FailedPreconditionError(`${this.vm.what} has no vsock agent socket`);
    }
    return { kind: "vsock", cid: this.#cid, port: AGENT_PORT };
  }

  async prepareVm(opts: PrepareVmOptions): Promise<void> {
    await this.prepareDir(opts);
    await Deno.remove(this.#qmpSocket()).catch(() => {});
    if (!this.#knobs.noVhostVsock) this.#cid = (this.#deps.allocateCid ?? allocateVsockCid)();
    this.vm.moveTo("prepared");
  }

  /** Spawns QEMU with the cold devices and waits for QMP; the guest boots now. */
  async startVm(timeoutMs: number): Promise<void> {
    this.vm.require("start");
    const o = this.#o;
    const imageSize = o.image && o.vmRootfsDriver === "virtio-pmem"
      ? (await Deno.stat(o.image)).size
      : 0;
    const { args, placements } = qemuCommandLine(o, {
      id: this.vm.id,
      qmpSocket: this.#qmpSocket(),
      vsockCid: this.#cid,
      imageSize,
      devices: [...this.devices.values()],
    });
    const finalArgs = this.#knobs.noVhostVsock ? dropVhostVsock(args) : args;
    for (const [id, p] of placements) this.devices.get(id)!.guestPath = p.guestPath;
    const proc = this.spawnVmm(o.path, finalArgs);
    const what = `sandbox "${this.vm.id}"`;
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
            id: this.vm.id,
            event: e.event,
            data: JSON.stringify(e.data ?? {}),
          });
        }
      });
      const st = await this.#qmp.queryStatus();
      if (!st.running) {
        throw new UnavailableError(`${this.vm.what} did not start running: ${st.status}`);
      }
    } catch (e) {
      // If QEMU died on its own, its stderr says why better than the socket error.
      const died = (await within(proc.exit, 1000))?.value;
      await this.stopVm();
      if (died && !(e instanceof UnavailableError && e.message.includes("exited"))) {
        throw proc.diedError(what, died);
      }
      throw e;
    }
    this.vm.moveTo("running");
    log.info("QEMU VM {id} started (pid {pid})", { id: this.vm.id, pid: proc.pid });
  }

  async stopVm(): Promise<void> {
    if (this.proc && !this.proc.exited) {
      if (this.#qmp) {
        // Ask politely first so QEMU flushes its files; kill if it does not go.
        const quit = this.#qmp.quit().catch(() => {});
        await settleWithin(Promise.all([quit, this.proc.exit]), QUIT_GRACE_MS);
      }
    }
    if (this.proc) await this.proc.kill();
    this.#qmp?.close();
    this.#qmp = null;
    this.vm.stopped();
  }

  async addDevice(d: Device): Promise<Device> {
    const dev = this.admit(d);
    if (d.kind === "vsock") {
      // The vhost-vsock device is part of every VM; report the CID it has.
      return { ...d, guestCid: this.#cid };
    }
    if (this.vm.state === "prepared") {
      this.devices.set(dev.id, dev);
      return dev;
    }
    const qmp = this.#needQmp("hotplug into");
    const added = await this.#hotplug.plug(qmp, dev, this.devices.values());
    this.devices.set(dev.id, added);
    return added;
  }

  async removeDevice(d: Device): Promise<void> {
    const id = implicitDeviceId(d) ?? "";
    const dev = this.devices.get(id);
    if (!dev) throw new NotFoundError(`Device "${id}" not found on ${this.vm.what}`);
    if (this.vm.state === "prepared" || this.vm.state === "stopped") {
      this.devices.delete(id);
      return;
    }
    await this.#hotplug.unplug(this.#needQmp("remove a device from"), dev);
    this.devices.delete(id);
  }

  /** QEMU's run state and each vCPU's RIP and halt state (QMP), for a guest that does not answer. */
  async vcpuReport(): Promise<string> {
    return await vcpuReport(this.#needQmp("read the vCPUs of"));
  }

  saveState(): HypervisorState {
    return this.savedState(this.#qmpSocket(), { vsock_cid: this.#cid, config: this.#o });
  }

  // ---- internals ----

  #qmpSocket(): string {
    return `${this.dir}/qmp.sock`;
  }

  #needQmp(op: string): QmpClient {
    this.vm.require("operate", op);
    if (!this.#qmp) throw new FailedPreconditionError(`Cannot ${op} ${this.vm.what}: no QMP`);
    return this.#qmp;
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
