/**
 * The VM: KVM VM fd, guest memory, in-kernel irqchip and PIT, the buses with
 * their devices, the loaded kernel and the vCPUs. It owns every resource it
 * creates and releases all of them on every path (failed creation, guest
 * shutdown or reset, host stop).
 * @module
 */
import { closeFd } from "../../ffi/fd.ts";
import {
  CAP,
  checkExtension,
  createIrqchip,
  createPit2,
  createVm,
  EXIT,
  openKvm,
  setTssAddr,
  setUserMemoryRegion,
  supportedCpuid,
  vcpuMmapSize,
} from "../../ffi/kvm.ts";
import { getLogger } from "../../common/log.ts";
import { FailedPreconditionError, InvalidArgumentError } from "../../common/errors.ts";
import { Bus } from "./bus.ts";
import { ConsoleBuffer } from "./console_buffer.ts";
import { GuestMemory, type MemoryFile } from "./memory.ts";
import { watchMemoryFile } from "./memory_file_watch.ts";
import { msrIndexList } from "../../ffi/kvm_state.ts";
import type { Stateful } from "./devices/state.ts";
import {
  applyMachine,
  captureMachine,
  type MachineParts,
  type MachineState,
  parseMachineState,
  resumeDevices,
} from "./snapshot/machine.ts";
import { Vcpu } from "./vcpu.ts";
import { IrqFdLine } from "./interrupt.ts";
import { COM1_IRQ, COM1_PORT, Serial, SERIAL_PORT_COUNT } from "./devices/serial/serial.ts";
import { I8042, I8042_PORT, I8042_PORT_COUNT } from "./devices/i8042/i8042.ts";
import { AcpiSleep, SLEEP_CONTROL_PORT, SLEEP_PORT_COUNT } from "./devices/acpi_pm/sleep.ts";
import { VirtioMmioTransport } from "./devices/virtio/mmio.ts";
import type { VirtioDevice } from "./devices/virtio/device.ts";
import {
  MAX_IRQ,
  MMIO_DEVICE_SIZE,
  MMIO_DEVICES_BASE,
  TSS_ADDR,
  VIRTIO_IRQ_BASE,
} from "./layout.ts";
import { type BootProtocol, loadGuest } from "./boot.ts";

const log = getLogger("hypervisor.dragonball");

/** What the VM is asked to run. */
export interface VmConfig {
  /** Kernel image bytes (ELF vmlinux or bzImage). */
  kernel: Uint8Array<ArrayBuffer>;
  initrd?: Uint8Array<ArrayBuffer>;
  cmdline: string;
  memoryMib: number;
  vcpus: number;
  /** Receives the guest's serial output. */
  console: (data: Uint8Array) => void;
  /** virtio devices, attached over virtio-mmio in this order. */
  devices?: VirtioDevice[];
  /** Which kernel entry to use; "auto" takes PVH when a vmlinux has it. */
  bootProtocol?: BootProtocol;
  /** Describe devices in ACPI tables (default true; false leaves only the MP table). */
  acpi?: boolean;
  /** /dev/kvm path (tests). */
  kvmPath?: string;
  /** Guest RAM from a file (a template VM's, shared; a clone's, private) instead of anonymous memory. */
  memoryFile?: MemoryFile;
  /**
   * A saved machine state (snapshot/machine.ts) to resume instead of
   * loading the kernel: the memory file holds the guest, and `kernel`,
   * `initrd` and `cmdline` are unused.
   */
  restore?: unknown;
}

/** How a VM ended. */
type VmExit =
  | { kind: "shutdown"; how: "poweroff" | "reboot" } // the guest asked (ACPI S5, i8042 reset, system event)
  | { kind: "stopped" } // the host stopped it
  | { kind: "failed"; reason: string };

type State = "created" | "running" | "pausing" | "paused" | "stopping" | "stopped";

/** Largest vCPU count the MP table and the APIC id space allow here. */
const MAX_VCPUS = 254;

/** A VM with its resources; {@link Vm.create} then {@link Vm.start}. */
export class Vm {
  #state: State = "created";
  readonly #closers: (() => void | Promise<void>)[] = [];
  readonly #vcpus: Vcpu[] = [];
  readonly #pio = new Bus();
  readonly #mmio = new Bus();
  #memory?: GuestMemory;
  #vmFd = -1;
  #msrIndexes: number[] = [];
  readonly #legacy = new Map<string, Stateful>();
  readonly #transports: VirtioMmioTransport[] = [];
  #exit?: VmExit;
  #exited!: (e: VmExit) => void;
  readonly #exitPromise = new Promise<VmExit>((r) => this.#exited = r);
  #console = new ConsoleBuffer(() => {});
  /** Exits per kind ("pio 0x3f8", "mmio 0xd0000000", "hlt", ...), for diagnostics. */
  readonly exitCounts = new Map<string, number>();

  private constructor() {}

  /** Builds the VM and loads the guest; nothing runs until {@link start}. */
  static async create(config: VmConfig): Promise<Vm> {
    validate(config);
    const vm = new Vm();
    try {
      vm.#build(config);
      return vm;
    } catch (e) {
      await vm.#release();
      throw e;
    }
  }

  #onClose(fn: () => void | Promise<void>): void {
    this.#closers.push(fn);
  }

  /** Phase durations of create/start, in ms (diagnostics: DRAGONBALL_PROFILE=1 logs them). */
  readonly phases: [string, number][] = [];
  #phaseStart = performance.now();

  #phase(name: string): void {
    const now = performance.now();
    this.phases.push([name, Math.round(now - this.#phaseStart)]);
    this.#phaseStart = now;
  }

  #build(c: VmConfig): void {
    this.#console = new ConsoleBuffer(c.console);
    const kvm = openKvm(c.kvmPath);
    this.#onClose(() => closeFd(kvm));
    for (
      const [name, cap] of Object.entries({
        IRQCHIP: CAP.IRQCHIP,
        IRQFD: CAP.IRQFD,
        USER_MEMORY: CAP.USER_MEMORY,
        IMMEDIATE_EXIT: CAP.IMMEDIATE_EXIT,
      })
    ) {
      if (checkExtension(kvm, cap) === 0) {
        throw new FailedPreconditionError(`KVM lacks the ${name} capability`);
      }
    }
    const vmFd = createVm(kvm);
    this.#vmFd = vmFd;
    this.#onClose(() => closeFd(vmFd));
    setTssAddr(vmFd, TSS_ADDR);
    createIrqchip(vmFd);
    createPit2(vmFd);

    this.#phase("kvm");
    const ramBytes = c.memoryMib * 1024 * 1024;
    const memory = c.memoryFile
      ? GuestMemory.fromFile(ramBytes, c.memoryFile)
      : GuestMemory.allocate(ramBytes);
    this.#memory = memory;
    this.#onClose(() => memory.close());
    memory.regions.forEach((r, slot) =>
      setUserMemoryRegion(vmFd, {
        slot,
        guestPhysAddr: BigInt(r.guestAddr),
        size: BigInt(r.size),
        userspaceAddr: r.hostAddr,
      })
    );

    this.#phase("memory");
    // vCPUs early: their threads start up while devices and the guest image are set up.
    const cpuid = supportedCpuid(kvm);
    const mmapSize = vcpuMmapSize(kvm);
    this.#msrIndexes = msrIndexList(kvm);
    for (let id = 0; id < c.vcpus; id++) {
      const vcpu = Vcpu.create(vmFd, id, c.vcpus, mmapSize, cpuid);
      this.#vcpus.push(vcpu);
      this.#onClose(() => vcpu.close());
    }
    this.#phase("vcpus");
    const serialIrq = new IrqFdLine(vmFd, COM1_IRQ);
    this.#onClose(() => serialIrq.close());
    const serial = new Serial((d) => this.#console.push(d), () => serialIrq.trigger());
    const i8042 = new I8042(() => this.#guestEnded({ kind: "shutdown", how: "reboot" }));
    const acpi = new AcpiSleep(() => this.#guestEnded({ kind: "shutdown", how: "poweroff" }));
    this.#pio.insert(COM1_PORT, SERIAL_PORT_COUNT, serial);
    this.#pio.insert(I8042_PORT, I8042_PORT_COUNT, i8042);
    this.#pio.insert(SLEEP_CONTROL_PORT, SLEEP_PORT_COUNT, acpi);
    this.#legacy.set("serial", serial).set("i8042", i8042).set("acpi", acpi);

    const cmdline = [c.cmdline];
    const mmioDevices: { addr: number; size: number; gsi: number }[] = [];
    (c.devices ?? []).forEach((dev, i) => {
      const addr = MMIO_DEVICES_BASE + i * MMIO_DEVICE_SIZE;
      const gsi = VIRTIO_IRQ_BASE + i;
      if (gsi > MAX_IRQ) {
        throw new InvalidArgumentError(
          `Too many virtio devices: ${c.devices!.length} (at most ${
            MAX_IRQ - VIRTIO_IRQ_BASE + 1
          })`,
        );
      }
      const irq = new IrqFdLine(vmFd, gsi);
      this.#onClose(() => irq.close());
      const transport = new VirtioMmioTransport(dev, memory, irq);
      this.#onClose(() => transport.close());
      this.#mmio.insert(addr, MMIO_DEVICE_SIZE, transport);
      this.#transports.push(transport);
      cmdline.push(`virtio_mmio.device=4K@0x${addr.toString(16)}:${gsi}`);
      mmioDevices.push({ addr, size: MMIO_DEVICE_SIZE, gsi });
    });

    this.#phase("devices");
    if (c.restore !== undefined) {
      const parts = this.#parts();
      const state = parseMachineState(c.restore, parts, c.vcpus);
      applyMachine(parts, state);
      for (const v of state.vcpus) this.#vcpus[v.id].applyState(v);
      resumeDevices(parts);
      this.#phase("restore");
      return;
    }
    const boot = loadGuest(memory, {
      kernel: c.kernel,
      initrd: c.initrd,
      cmdline: cmdline.join(" "),
      vcpus: c.vcpus,
      protocol: c.bootProtocol ?? "auto",
      mmioDevices,
      acpi: c.acpi ?? true,
    });
    log.debug("guest loaded: {protocol} entry 0x{entry}", {
      protocol: boot.protocol,
      entry: boot.regs.rip.toString(16),
    });

    this.#vcpus[0].setBootState(boot.regs, boot.sregs);
    this.#phase("load");
  }

  #parts(): MachineParts {
    return { vmFd: this.#vmFd, legacy: this.#legacy, virtio: this.#transports };
  }

  /**
   * Pauses a running (or never started) VM for a snapshot: every vCPU
   * leaves the guest at an instruction boundary and its thread ends; devices
   * stay. A paused VM is saved ({@link saveMachine}) and then stopped; it
   * does not run again.
   */
  async pause(): Promise<void> {
    if (this.#state !== "running" && this.#state !== "created") {
      throw new FailedPreconditionError(`Cannot pause a VM that is ${this.#state}`);
    }
    this.#state = "pausing";
    for (const v of this.#vcpus) await v.halt();
    if (this.#state === "pausing") this.#state = "paused";
    else throw new FailedPreconditionError(`The VM ended while pausing: ${describe(this.#exit)}`);
  }

  /** The machine state of a paused VM (its memory is the memory file's). */
  saveMachine(): MachineState {
    if (this.#state !== "paused") {
      throw new FailedPreconditionError(`Cannot save a VM that is ${this.#state} (pause it first)`);
    }
    const vcpus = this.#vcpus.map((v) => v.captureState(this.#msrIndexes));
    return captureMachine(this.#parts(), vcpus);
  }

  /** Guest memory (for devices and tests). */
  get memory(): GuestMemory {
    if (!this.#memory) throw new FailedPreconditionError("VM has no memory");
    return this.#memory;
  }

  /**
   * Starts every vCPU: the APs first, the boot vCPU last. An AP's thread
   * parks in KVM_RUN until the boot vCPU's INIT/SIPI; started first, every
   * AP thread is in its loop before the guest runs at all. Started after the
   * boot vCPU (as before), an AP's thread could still be coming up while the
   * guest already waited for it, and Linux waits only a bounded time (about
   * 10 s of guest time) before it gives a CPU up: under nested emulation a
   * thread start can take that long.
   */
  async start(): Promise<void> {
    if (this.#state !== "created") {
      throw new FailedPreconditionError(`Cannot start a VM that is ${this.#state}`);
    }
    this.#state = "running";
    this.#phaseStart = performance.now();
    if (this.#memory?.file?.mode === "private") this.#watchMemoryFile(this.#memory);
    for (const v of [...this.#vcpus.slice(1), this.#vcpus[0]]) {
      await v.start((vcpu) => this.#handleExit(vcpu));
      this.#phase(`start vCPU ${v.id}`);
      // A truncated memory file makes KVM_RUN fail (EFAULT): say why rather than the errno.
      v.wait().catch((e) =>
        this.#guestEnded({
          kind: "failed",
          reason: this.#memory?.fileProblem() ?? (e as Error).message,
        })
      );
    }
  }

  /** Stops the VM, saying why, when a clone's memory file is about to change or has shrunk. */
  #watchMemoryFile(memory: GuestMemory): void {
    const stop = watchMemoryFile(memory, (reason) => this.#guestEnded({ kind: "failed", reason }));
    this.#onClose(stop);
  }

  /**
   * One line per vCPU: its exits and whether it is parked or in KVM_RUN, and,
   * once the VM is released, its guest rip and KVM mp state: the evidence for
   * a guest that stopped making progress, e.g. an AP never brought up by
   * INIT/SIPI.
   */
  vcpuReport(): string[] {
    return this.#vcpus.map((v) => v.report());
  }

  /** Resolves once the VM has ended and released everything. */
  wait(): Promise<VmExit> {
    return this.#exitPromise;
  }

  /** Stops the guest from the host and releases every resource. */
  async stop(): Promise<VmExit> {
    this.#guestEnded({ kind: "stopped" });
    return await this.#exitPromise;
  }

  #handleExit(vcpu: Vcpu): void {
    // While pausing, an exit is still emulated (its thread then stops instead of resuming).
    if (this.#state !== "running" && this.#state !== "pausing") return;
    const run = vcpu.run;
    try {
      switch (run.exitReason) {
        case EXIT.IO: {
          const io = run.io;
          this.#count(`pio 0x${io.port.toString(16)}`);
          for (let i = 0; i < io.count; i++) {
            const d = io.data.subarray(i * io.size, (i + 1) * io.size);
            if (io.out) this.#pio.write(io.port, d);
            else if (!this.#pio.read(io.port, d)) d.fill(0); // absent hardware reads as zero, as in Firecracker
          }
          break;
        }
        case EXIT.MMIO: {
          const m = run.mmio;
          const addr = Number(m.addr);
          this.#count(`mmio 0x${(Math.floor(addr / 0x1000) * 0x1000).toString(16)}`);
          if (m.write) this.#mmio.write(addr, m.data);
          else if (!this.#mmio.read(addr, m.data)) m.data.fill(0);
          break;
        }
        case EXIT.SHUTDOWN:
          this.#guestEnded({
            kind: "failed",
            reason: `vCPU ${vcpu.id}: guest triple fault at ${vcpu.faultState()}`,
          });
          return;
        case EXIT.SYSTEM_EVENT: {
          const t = run.systemEventType;
          this.#guestEnded(
            t === 3
              ? { kind: "failed", reason: `vCPU ${vcpu.id}: guest crashed` }
              : { kind: "shutdown", how: t === 1 ? "poweroff" : "reboot" },
          );
          return;
        }
        case EXIT.HLT:
          this.#guestEnded({ kind: "shutdown", how: "poweroff" });
          return;
        case EXIT.IRQ_WINDOW_OPEN:
        case EXIT.INTR:
          break;
        default:
          this.#guestEnded({ kind: "failed", reason: `vCPU ${vcpu.id}: ${run.describeFailure()}` });
          return;
      }
    } catch (e) {
      // A device failing on a bad guest access must not end the VM.
      log.warn("vCPU {id}: device access failed: {error}", { id: vcpu.id, error: String(e) });
    }
    if (this.#state === "running") vcpu.resume();
  }

  #count(kind: string): void {
    this.exitCounts.set(kind, (this.exitCounts.get(kind) ?? 0) + 1);
  }

  #guestEnded(exit: VmExit): void {
    if (this.#state === "stopping" || this.#state === "stopped") return;
    this.#exit = exit;
    this.#state = "stopping";
    // Stopping awaits the vCPU threads, so it must not run inside an exit handler.
    queueMicrotask(() => this.#release().then(() => this.#exited(this.#exit!)));
  }

  async #release(): Promise<void> {
    this.#console.flush();
    const errors: unknown[] = [];
    // vCPUs stop before any device or memory goes away.
    for (const v of this.#vcpus) await v.close().catch((e) => errors.push(e));
    // vCPUs first (registered last), then devices, memory, the VM and KVM fds.
    for (const close of this.#closers.reverse()) {
      try {
        await close();
      } catch (e) {
        errors.push(e);
      }
    }
    this.#closers.length = 0;
    this.#state = "stopped";
    for (const e of errors) log.warn("releasing VM resources: {error}", { error: String(e) });
  }
}

function describe(exit?: VmExit): string {
  if (!exit) return "unknown";
  return exit.kind === "failed" ? exit.reason : exit.kind;
}

function validate(c: VmConfig): void {
  if (!Number.isInteger(c.vcpus) || c.vcpus < 1 || c.vcpus > MAX_VCPUS) {
    throw new InvalidArgumentError(`vCPU count ${c.vcpus} is outside 1..${MAX_VCPUS}`);
  }
  if (!Number.isInteger(c.memoryMib) || c.memoryMib < 64) {
    throw new InvalidArgumentError(
      `Guest memory of ${c.memoryMib} MiB is too small (at least 64 MiB)`,
    );
  }
}
