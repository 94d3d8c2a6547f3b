/**
 * What the drivers of an external VMM process with a control socket (QEMU's
 * QMP, Cloud Hypervisor's and Firecracker's REST APIs) share: the run
 * directory (`<run root>/<sandbox id>/<subdir>` unless the driver lays it out
 * itself, as Firecracker's jailer does), the VMM child process, the lifecycle
 * and its rule table, the device table with the checks every `addDevice`
 * makes, and the state they persist. A driver adds how it talks to its VMM.
 * @module
 */
import { FailedPreconditionError, InvalidArgumentError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import type { Device, VfioDevice } from "./device.ts";
import {
  duplicateDevice,
  implicitDeviceId,
  newDeviceId,
  refuseTapFds,
  refuseVfio,
  validateDevice,
} from "./device.ts";
import type {
  HypervisorKind,
  HypervisorState,
  PrepareVmOptions,
  VmExit,
  VmState,
} from "./hypervisor.ts";
import { removeTree } from "../persist/remove_tree.ts";
import { VmLifecycle, type VmRules } from "./vm_lifecycle.ts";
import { VmmProcess } from "./vmm_process.ts";

/** A device the driver holds, with its id and (once placed) its guest path. */
export type PlacedDevice = Exclude<Device, VfioDevice> & { id: string; guestPath?: string };

/** Where a driver's VM lives: the sandbox's directory and the driver's own, removed on cleanup. */
interface VmLayout {
  vmPath: string;
  dir: string;
}

/** How the base names and places a driver's VM. */
interface ExternalVmmSetup {
  kind: HypervisorKind;
  /** The VMM's name in messages ("QEMU", "Cloud Hypervisor"). */
  vmm: string;
  /** `[hypervisor.*] run root`: the VM lives in `<runRoot>/<id>/<subdir>`. */
  runRoot: string;
  subdir: string;
  /** `disable_block_device_use`: refuse block devices. */
  disableBlockDeviceUse: boolean;
  log: Logger;
  /** Which operation each state allows; default: the VM boots in `startVm`. */
  rules?: VmRules;
  /** What the VMM's stdout carries (default: the guest console). */
  stdoutIs?: "console" | "output";
}

/** Sandbox ids a driver accepts: they become path components and QEMU/CH names. */
const SANDBOX_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** The shared half of an external-VMM driver. */
export abstract class ExternalVmm {
  readonly kind: HypervisorKind;
  protected readonly vm: VmLifecycle;
  protected readonly setup: ExternalVmmSetup;
  protected netns: string | null = null;
  protected vmPath = "";
  /** The driver's own directory (`<vmPath>/<subdir>`), removed on cleanup. */
  protected dir = "";
  protected proc: VmmProcess | null = null;
  /** Every device the VM has (cold and hot), by id. */
  protected readonly devices = new Map<string, PlacedDevice>();

  constructor(setup: ExternalVmmSetup) {
    this.setup = setup;
    this.kind = setup.kind;
    this.vm = new VmLifecycle(setup.vmm, setup.rules);
  }

  /** Stops the VMM (kills it if it does not go); safe to call twice. */
  abstract stopVm(): Promise<void>;

  state(): VmState {
    return this.vm.state;
  }

  pids(): number[] {
    return this.proc && !this.proc.exited ? [this.proc.pid] : [];
  }

  /** Both VMMs boot the guest in `startVm`: `bootVm` only checks that it runs. */
  bootVm(): Promise<void> {
    try {
      this.vm.require("boot");
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.resolve();
  }

  waitVm(): Promise<VmExit> {
    if (!this.proc) {
      return Promise.reject(
        new FailedPreconditionError(`Cannot wait for ${this.vm.what}: not started`),
      );
    }
    return this.proc.exit;
  }

  async cleanup(): Promise<void> {
    await this.stopVm();
    // Mount-aware: unmounts and proves before removing, never through a mount.
    if (this.dir) await removeTree(this.dir);
  }

  /**
   * `prepareVm`'s common part: checks state and id, makes the driver's
   * directory (`layout` places it elsewhere than `<runRoot>/<id>/<subdir>`).
   */
  protected async prepareDir(
    opts: PrepareVmOptions,
    layout?: (id: string) => VmLayout,
  ): Promise<void> {
    this.vm.require("prepare", "prepare", opts.id);
    if (!SANDBOX_ID.test(opts.id) || opts.id.length > 64) {
      throw new InvalidArgumentError(
        `Invalid sandbox id ${JSON.stringify(opts.id)} for ${this.setup.vmm}`,
      );
    }
    this.vm.id = opts.id;
    this.netns = opts.netnsPath ?? null;
    const vmPath = `${this.setup.runRoot}/${opts.id}`;
    const placed = layout?.(opts.id) ?? { vmPath, dir: `${vmPath}/${this.setup.subdir}` };
    this.vmPath = placed.vmPath;
    this.dir = placed.dir;
    await Deno.mkdir(this.dir, { recursive: true, mode: 0o750 });
  }

  /**
   * `addDevice`'s common part: validates `d`, gives it an id and refuses what
   * no state or driver of this kind accepts (duplicates, VFIO, block devices
   * when disabled). Returns the device with its id.
   */
  protected admit(d: Device): PlacedDevice {
    validateDevice(d);
    refuseVfio(d);
    refuseTapFds(d, this.setup.vmm);
    const id = implicitDeviceId(d) ?? newDeviceId();
    this.vm.require("attach", `add ${d.kind} device "${id}" to`);
    if (this.devices.has(id)) throw duplicateDevice(d, id);
    if (d.kind === "block" && this.setup.disableBlockDeviceUse) {
      throw new FailedPreconditionError(
        `Cannot add block device "${id}": disable_block_device_use is set`,
      );
    }
    return { ...d, id } as PlacedDevice;
  }

  /**
   * Spawns the VMM, in the pod netns unless `enterNetns` is false (a launcher
   * such as Firecracker's jailer that joins it itself); its exit marks the VM
   * stopped.
   */
  protected spawnVmm(cmd: string, args: string[], enterNetns = true): VmmProcess {
    const proc = VmmProcess.spawn({
      cmd,
      args,
      netnsPath: enterNetns ? this.netns ?? undefined : undefined,
      log: this.setup.log,
      name: this.setup.vmm,
      stdoutIs: this.setup.stdoutIs ?? "console",
    });
    this.proc = proc;
    proc.exit.then(() => this.vm.stopped());
    return proc;
  }

  /** The state.json record; `extra` adds the driver's own keys. */
  protected savedState(apiSocket: string, extra: Record<string, unknown>): HypervisorState {
    if (!this.dir) {
      throw new FailedPreconditionError(`${this.setup.vmm} VM has no state before prepareVm`);
    }
    return {
      hypervisor_type: this.kind,
      pid: this.proc?.pid ?? null,
      pid_start: this.proc?.startTime ?? null,
      // With the start time, proves the pid is still this VMM before a later kill.
      pid_exe: this.proc?.identity()?.exe ?? null,
      uuid: "",
      api_socket: apiSocket,
      id: this.vm.id,
      vm_path: this.vmPath,
      jailed: false,
      jailer_root: "",
      netns: this.netns,
      run_dir: this.dir,
      owned_paths: [this.dir],
      ...extra,
    };
  }
}
