/**
 * The built-in VMM as a VirtContainer `Hypervisor` driver (hypervisor
 * "dragonball"): the VM runs inside the shim process, so there is no VMM
 * process to spawn or API socket to talk to. Devices are collected before
 * boot; after boot only disks come and go, through {@link BLOCK_SLOTS}
 * placeholder virtio-blk slots (hypervisor/block_slots.ts) whose backing file
 * is swapped with a configuration change. The agent is reached over hybrid vsock at
 * `<run dir>/kata.hvsock`. Host directories are shared over inline
 * virtio-fs or virtio-9p, both served by the VMM itself (virtio-fs through
 * virtiofsd would need its vhost-user socket, which this VMM does not speak).
 * @module
 */
import type { HypervisorConfig } from "../../config/schema.ts";
import { FailedPreconditionError, UnimplementedError } from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import { AGENT_PORT } from "../../common/agent_port.ts";
import { BOOTS_IN_START, VmLifecycle } from "../vm_lifecycle.ts";
import { type Device, refuseVfio } from "../device.ts";
import type { AgentSocket, Capabilities, Hypervisor, HypervisorState } from "../hypervisor.ts";
import type { PrepareVmOptions, VmExit as DriverExit, VmState } from "../hypervisor.ts";
import { Vm } from "./vm.ts";
import { BlockSlots } from "../block_slots.ts";
import type { BlockDevice } from "../device.ts";
import { VirtioBlock } from "./devices/virtio_blk/block.ts";
import type { VirtioDevice } from "./devices/virtio/device.ts";
import { type DeviceSpec, openDevices } from "./device_specs.ts";
import { mapImageFile } from "./image_file.ts";
import { UNSUPPORTED_DRAGONBALL } from "../unsupported_keys.ts";
import { checkBootFiles } from "../options_check.ts";
import { type TemplatePlan, TemplatePlanner } from "./template_plan.ts";
import { TEMPLATE_NIC_MAC } from "./template.ts";

const log = getLogger("hypervisor.dragonball");
const consoleLog = getLogger("hypervisor.dragonball.console");

const DEFAULT_CID = 3;
/** How much of the guest console {@link Dragonball.consoleTail} keeps. */
const CONSOLE_TAIL_CHARS = 4096;
/** Upstream's default `template_path`. */
export const DEFAULT_TEMPLATE_PATH = "/run/vc/vm/template";
/** Empty virtio-blk slots every VM boots with, for disks added after boot. */
export const BLOCK_SLOTS = 4;

/** Driver options (from `[hypervisor.dragonball]`). */
interface DragonballOptions {
  kernel: string;
  initrd: string;
  image: string;
  kernelParams: string;
  vcpus: number;
  memoryMib: number;
  runRoot: string;
  /** `[hypervisor.dragonball.factory] template_path` when `enable_template` is on, else "". */
  templatePath: string;
}

/** The `[hypervisor.dragonball]` keys the driver reads. */
interface DragonballConfigSection {
  kernel?: string;
  initrd?: string;
  image?: string;
  kernel_params?: string;
  default_vcpus?: number;
  default_memory?: number;
  factory?: { enable_template?: boolean; template_path?: string };
}

/** Maps the config section to options, refusing what cannot boot. */
export function dragonballOptionsFromConfig(
  c: DragonballConfigSection,
  runRoot = "/run/kata",
): DragonballOptions {
  // The same checks the other drivers make (no VMM path: the VMM is this process).
  checkBootFiles(c, "dragonball", "built-in VMM", {
    needsPath: false,
    extraUnsupported: UNSUPPORTED_DRAGONBALL,
  });
  return {
    kernel: c.kernel!,
    initrd: c.initrd ?? "",
    image: c.image ?? "",
    kernelParams: c.kernel_params ?? "",
    vcpus: Math.max(1, Math.ceil(c.default_vcpus || 1)),
    memoryMib: c.default_memory || 2048,
    runRoot,
    templatePath: c.factory?.enable_template
      ? c.factory.template_path || DEFAULT_TEMPLATE_PATH
      : "",
  };
}

/** The kernel command line the driver boots with. */
export function dragonballBootArgs(o: DragonballOptions): string {
  const args = ["console=ttyS0", "reboot=k", "panic=1", "pci=off", "quiet"];
  if (o.image) {
    args.push(
      "root=/dev/vda1",
      "rootflags=data=ordered,errors=remount-ro",
      "ro",
      "rootfstype=ext4",
    );
  }
  if (o.kernelParams) args.push(o.kernelParams);
  return args.join(" ");
}

/** The built-in VMM driver. */
export class Dragonball implements Hypervisor {
  readonly kind = "dragonball" as const;
  readonly #o: DragonballOptions;
  /** Devices are collected before start (after it only disks, through the block slots). */
  readonly #life = new VmLifecycle("built-in", { ...BOOTS_IN_START, attach: ["prepared"] });
  #netns: string | null = null;
  #runDir = "";
  #vm?: Vm;
  #exit?: Promise<DriverExit>;
  readonly #pending: Device[] = [];
  #blockCount = 0;
  #guestCid = DEFAULT_CID;
  /** Hot-added disks, by slot (set up at start, after the cold-plugged disks). */
  #slots?: BlockSlots<BlockDevice & { id: string }>;
  readonly #placeholders = new Map<number, VirtioBlock>();
  #consoleTail = "";
  /** How this VM uses the template (none, built as one, restored from one). */
  #plan?: TemplatePlan;

  /** `buildTemplate`: this VM becomes the template at `templatePath` (`shim-ctl factory init`). */
  constructor(options: DragonballOptions, readonly buildTemplate = false) {
    this.#o = options;
  }

  /** The guest console's last few KiB (evidence when a guest never answers). */
  consoleTail(): string {
    return this.#consoleTail;
  }

  templateClone(): { nicMac: string } | undefined {
    return this.#plan?.kind === "restore" ? { nicMac: TEMPLATE_NIC_MAC } : undefined;
  }

  state(): VmState {
    return this.#life.state;
  }

  capabilities(): Capabilities {
    return {
      blockDevice: true,
      blockHotplug: true,
      netHotplug: false,
      fsSharing: true,
      inlineVirtioFs: true,
      hybridVsock: true,
      agentBlockDriver: "mmioblk",
    };
  }

  get #hvsock(): string {
    return `${this.#runDir}/kata.hvsock`;
  }

  agentSocket(): AgentSocket {
    if (!this.#runDir) {
      throw new FailedPreconditionError("Built-in VMM has no agent socket before prepareVm");
    }
    return { kind: "hvsock", path: this.#hvsock, port: AGENT_PORT };
  }

  pids(): number[] {
    return this.#life.state === "running" ? [Deno.pid] : [];
  }

  /** vCPU exits by kind since boot (the management socket's `kata_hypervisor_vcpu_exits_total`). */
  vmmCounters(): Record<string, number> {
    return Object.fromEntries(this.#vm?.exitCounts ?? []);
  }

  /**
   * Each vCPU's exit count and run state (in KVM_RUN or parked at an exit)
   * while the VM runs; its rip and MP state once the VM is released.
   */
  vcpuReport(): Promise<string> {
    if (!this.#vm) {
      return Promise.reject(
        new FailedPreconditionError(
          `Cannot read the vCPUs of built-in VM "${this.#life.id}": not started`,
        ),
      );
    }
    return Promise.resolve(this.#vm.vcpuReport().join("; "));
  }

  async prepareVm(opts: PrepareVmOptions): Promise<void> {
    this.#life.require("prepare", "prepare", opts.id);
    this.#life.id = opts.id;
    this.#netns = opts.netnsPath ?? null;
    this.#runDir = `${this.#o.runRoot}/${opts.id}`;
    await Deno.mkdir(this.#runDir, { recursive: true, mode: 0o750 });
    this.#life.moveTo("prepared");
  }

  addDevice(d: Device): Promise<Device> {
    try {
      refuseVfio(d);
    } catch (e) {
      return Promise.reject(e);
    }
    if (d.kind === "block" && this.#life.state === "running") return this.#hotAddBlock(d);
    if (!this.#life.allows("attach")) {
      return Promise.reject(
        new UnimplementedError(
          `The built-in VMM cannot add a ${d.kind} device after boot (only disks can be hot-added)`,
        ),
      );
    }
    switch (d.kind) {
      case "block": {
        const index = this.#blockCount++ + (this.#o.image ? 1 : 0);
        const out = { ...d, index, guestPath: `/dev/vd${String.fromCharCode(97 + index)}` };
        this.#pending.push(out);
        return Promise.resolve(out);
      }
      case "network":
        if (d.queues > 1) {
          return Promise.reject(
            new UnimplementedError("The built-in VMM supports single-queue NICs only"),
          );
        }
        this.#pending.push(d);
        return Promise.resolve(d);
      case "share_fs":
        if (d.fsType === "virtio-fs") {
          return Promise.reject(
            new UnimplementedError(
              "The built-in VMM serves virtio-fs itself and cannot use virtiofsd " +
                '(set shared_fs = "inline-virtio-fs" or "virtio-9p")',
            ),
          );
        }
        if ((d.cacheSizeMib ?? 0) > 0) {
          return Promise.reject(
            new UnimplementedError(
              `The built-in VMM's virtio-fs has no DAX window (virtio_fs_cache_size = ${d.cacheSizeMib})`,
            ),
          );
        }
        this.#pending.push(d);
        return Promise.resolve(d);
      case "vsock":
        this.#guestCid = d.guestCid;
        return Promise.resolve({ ...d, udsPath: this.#hvsock });
      default:
        return Promise.reject(
          new UnimplementedError(
            `The built-in VMM does not support ${(d as Device).kind} devices`,
          ),
        );
    }
  }

  removeDevice(d: Device): Promise<void> {
    if (d.kind === "block" && this.#slots && d.id) {
      try {
        const slot = this.#slots.slotOf(d.id, `built-in VM "${this.#life.id}"`);
        this.#placeholders.get(slot)!.detachBacking();
        this.#slots.release(d.id);
        log.info("block device {id} detached from slot {slot}", { id: d.id, slot });
        return Promise.resolve();
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return Promise.reject(
      new UnimplementedError(`The built-in VMM cannot remove a ${d.kind} device`),
    );
  }

  /** Backs a free placeholder slot with the disk's file; the guest sees it appear. */
  #hotAddBlock(d: BlockDevice): Promise<Device> {
    try {
      const slots = this.#slots;
      if (!slots) throw new FailedPreconditionError("The built-in VM has no block slots");
      if (!d.id) throw new FailedPreconditionError(`Cannot hot-add block device ${d.path}: no id`);
      const dev = { ...d, id: d.id };
      const slot = slots.pick({ ...dev, index: undefined });
      this.#placeholders.get(slot)!.attachBacking(d.path, { readOnly: d.readOnly, id: d.id });
      slots.set(slot, dev);
      log.info("block device {id} ({path}) attached in slot {slot}", {
        id: d.id,
        path: d.path,
        slot,
      });
      return Promise.resolve({ ...dev, index: slot, guestPath: BlockSlots.guestPath(slot) });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** The devices to open at start: the rootfs image, the collected ones, the hybrid vsock. */
  #deviceSpecs(): DeviceSpec[] {
    // (The block slots are added by startVm, after the cold-plugged disks.)
    const specs: DeviceSpec[] = [];
    if (this.#o.image) specs.push({ kind: "block", path: this.#o.image, readOnly: true });
    for (const d of this.#pending) {
      if (d.kind === "block") {
        specs.push({ kind: "block", path: d.path, readOnly: d.readOnly, id: d.id });
      } else if (d.kind === "network") {
        specs.push({ kind: "net", tap: d.tapName, netns: this.#netns ?? "", mac: d.guestMac });
      } else if (d.kind === "share_fs") {
        specs.push(
          d.fsType === "inline-virtio-fs"
            ? { kind: "virtio-fs", tag: d.mountTag, dir: d.hostPath, cache: d.cache }
            : { kind: "9p", tag: d.mountTag, dir: d.hostPath },
        );
      }
    }
    specs.push({ kind: "vsock", udsPath: this.#hvsock, guestCid: this.#guestCid });
    return specs;
  }

  async startVm(_timeoutMs: number): Promise<void> {
    this.#life.require("start");
    const o = this.#o;
    const kernel = mapImageFile("kernel", o.kernel);
    const initrd = o.initrd ? mapImageFile("initrd", o.initrd) : undefined;
    let devices: VirtioDevice[] = [];
    let vm: Vm;
    const plan = new TemplatePlanner(o, BLOCK_SLOTS, dragonballBootArgs(o)).plan({
      id: this.#life.id,
      build: this.buildTemplate,
      devices: this.#pending,
      vsock: { udsPath: this.#hvsock, guestCid: this.#guestCid },
      netns: this.#netns ?? "",
    });
    this.#plan = plan;
    try {
      devices = await openDevices(plan.kind === "cold" ? this.#deviceSpecs() : plan.specs);
      // Placeholder slots come after every cold-plugged disk, so their guest
      // names (probe order) follow the disks': slot i is /dev/vd<first + i>.
      const first = (o.image ? 1 : 0) + this.#blockCount;
      this.#slots = new BlockSlots(first, BLOCK_SLOTS, {
        owner: "built-in VMM",
        kind: "block",
        slotName: (i) => `block slot ${i}`,
      });
      const lastBlock = devices.findLastIndex((v) => v instanceof VirtioBlock);
      const slotDevices = Array.from({ length: BLOCK_SLOTS }, (_, i) => {
        const p = VirtioBlock.placeholder(`slot${first + i}`);
        this.#placeholders.set(first + i, p);
        return p;
      });
      devices.splice(lastBlock + 1, 0, ...slotDevices);
      vm = await Vm.create({
        kernel: kernel.bytes,
        initrd: initrd?.bytes,
        cmdline: dragonballBootArgs(o),
        memoryMib: o.memoryMib,
        vcpus: o.vcpus,
        devices,
        console: (data) => {
          const line = new TextDecoder().decode(data);
          this.#consoleTail = (this.#consoleTail + line).slice(-CONSOLE_TAIL_CHARS);
          consoleLog.debug("{line}", { line });
        },
        memoryFile: plan.kind === "cold" ? undefined : plan.memoryFile,
        restore: plan.kind === "restore" ? plan.machine : undefined,
      });
    } catch (e) {
      for (const d of devices) await d.close();
      throw e;
    } finally {
      kernel.close();
      initrd?.close();
    }
    try {
      await vm.start();
    } catch (e) {
      await vm.stop();
      throw e;
    }
    this.#vm = vm;
    this.#life.moveTo("running");
    this.#exit = vm.wait().then((exit) => {
      this.#life.moveTo("stopped");
      if (exit.kind === "failed") {
        log.warn("built-in VM {id} failed: {reason}", { id: this.#life.id, reason: exit.reason });
      }
      return { code: exit.kind === "failed" ? 1 : 0, signal: null };
    });
  }

  /**
   * Saves the running VM as the template (built with `buildTemplate`):
   * pauses it, saves the machine state beside its memory file, stops it.
   */
  async saveTemplate(): Promise<void> {
    const vm = this.#vm;
    const plan = this.#plan;
    if (!vm || plan?.kind !== "build") {
      throw new FailedPreconditionError(
        `Built-in VM "${this.#life.id}" was not started as a template (buildTemplate)`,
      );
    }
    await vm.pause();
    const machine = vm.saveMachine();
    await vm.stop();
    this.#life.moveTo("stopped");
    await plan.commit(machine);
  }

  bootVm(): Promise<void> {
    return Promise.resolve(); // startVm already booted: there is nothing to hot-add
  }

  async stopVm(): Promise<void> {
    if (this.#vm) await this.#vm.stop();
    this.#life.moveTo("stopped");
  }

  waitVm(): Promise<DriverExit> {
    return this.#exit ??
      Promise.reject(new FailedPreconditionError("Built-in VM was never started"));
  }

  async cleanup(): Promise<void> {
    await this.stopVm();
    // The run dir is the sandbox directory (state.json, shared/ with its bind
    // mounts): remove only the socket made here, and the dir only when empty.
    // The sandbox removes the rest through the mount-aware removal.
    if (!this.#runDir) return;
    await Deno.remove(this.#hvsock).catch(() => {/* gone already */});
    await Deno.remove(this.#runDir).catch(() => {/* not empty: not only ours */});
  }

  saveState(): HypervisorState {
    return {
      hypervisor_type: "dragonball",
      // The shim is the VMM: there is no separate VMM process to record or kill,
      // and a dead shim left nothing running.
      pid: null,
      uuid: "",
      api_socket: "",
      id: this.#life.id,
      vm_path: "",
      jailed: false,
      jailer_root: "",
      netns: this.#netns,
      run_dir: this.#runDir,
      owned_paths: this.#runDir ? [this.#hvsock] : [],
      owned_empty_dirs: this.#runDir ? [this.#runDir] : [],
      config: this.#o,
    };
  }
}

/** Builds the driver from `[hypervisor.dragonball]` (the factory's `dragonball` hook). */
export function dragonballFromConfig(config: HypervisorConfig, runRoot: string): Hypervisor {
  return new Dragonball(dragonballOptionsFromConfig(config, runRoot));
}
