/**
 * One vCPU: its KVM fd, the shared kvm_run page, boot register set-up and
 * the thread that runs it.
 * @module
 */
import { closeFd } from "../../ffi/fd.ts";
import {
  type CpuidEntry,
  createVcpu,
  getLapic,
  getMpState,
  getRegs,
  getSregs,
  KvmRun,
  type Regs,
  setCpuid2,
  setFpu,
  setLapic,
  setMsrs,
  setRegs,
  setSregs,
  type Sregs,
} from "../../ffi/kvm.ts";
import { VcpuThread } from "../../ffi/kvm_vcpu_thread.ts";
import { getLogger } from "../../common/log.ts";
import { bootMsrs, setLocalInterrupts, vcpuCpuid } from "./cpu_config.ts";
import { completePendingExit, kvmclockPaused } from "../../ffi/kvm_state.ts";
import { applyVcpu, captureVcpu, type VcpuState } from "./snapshot/vcpu_state.ts";

const log = getLogger("hypervisor.dragonball");

/** x87 control word and MXCSR after reset. */
const FPU_CONTROL_WORD = 0x37f;
const MXCSR_DEFAULT = 0x1f80;
/** Where an x86 CPU starts after reset (CS selector 0xf000, IP 0xfff0). */
const RESET_RIP = 0xfff0n;
const RESET_CS = 0xf000;

/** A created (not yet running) or running vCPU. */
export class Vcpu {
  readonly run: KvmRun;
  readonly #thread: VcpuThread;
  #closed = false;
  /** What {@link close} found when it stopped the thread (diagnostics of a stuck guest). */
  lastState = "";

  private constructor(readonly id: number, readonly fd: number, run: KvmRun) {
    this.run = run;
    // Spawned now so the thread's isolate starts while the rest of the VM is built.
    this.#thread = VcpuThread.spawn(id);
  }

  /** Creates vCPU `id` with its CPUID, boot MSRs, FPU and LAPIC set up. */
  static create(
    vmFd: number,
    id: number,
    count: number,
    mmapSize: number,
    supportedCpuid: readonly CpuidEntry[],
  ): Vcpu {
    const fd = createVcpu(vmFd, id);
    let run: KvmRun | undefined;
    try {
      run = KvmRun.map(fd, mmapSize);
      setCpuid2(fd, vcpuCpuid(supportedCpuid, id, count));
      setMsrs(fd, bootMsrs());
      setFpu(fd, FPU_CONTROL_WORD, MXCSR_DEFAULT);
      setLapic(fd, setLocalInterrupts(getLapic(fd)));
      return new Vcpu(id, fd, run);
    } catch (e) {
      run?.close();
      closeFd(fd);
      throw e;
    }
  }

  /** Sets the entry state (boot vCPU only; the others wait for INIT/SIPI). */
  setBootState(regs: Regs, sregs: (current: Sregs) => Sregs): void {
    setSregs(this.fd, sregs(getSregs(this.fd)));
    setRegs(this.fd, regs);
  }

  /** Starts the vCPU thread; `onExit` handles each exit and calls {@link resume}. */
  async start(onExit: (vcpu: Vcpu) => void): Promise<void> {
    await this.#thread.start(this.fd, this.run, () => onExit(this));
  }

  /** Re-enters the guest after an exit was handled. */
  resume(): void {
    this.#thread.resume();
  }

  /**
   * Stops the vCPU's thread for a snapshot, keeping the vCPU: kicks it out
   * of the guest, then completes the exit it was handling (an I/O read's
   * value reaches its register only on the next KVM_RUN), so the state
   * read next is that of an instruction boundary.
   */
  async halt(): Promise<void> {
    await this.#thread.stop();
    this.run.immediateExit = true;
    completePendingExit(this.fd);
    this.run.immediateExit = false;
    kvmclockPaused(this.fd);
  }

  /** The vCPU's state (after {@link halt}). */
  captureState(msrIndexes: readonly number[]): VcpuState {
    return captureVcpu(this.id, this.fd, msrIndexes);
  }

  /** Takes a saved state (before {@link start}); MSRs KVM refuses are skipped and logged. */
  applyState(s: VcpuState): void {
    const refused = applyVcpu(this.fd, s);
    if (refused.length > 0) {
      log.warn("vCPU {id}: KVM refused saved MSRs {msrs}", {
        id: this.id,
        msrs: refused.map((i) => `0x${i.toString(16)}`).join(", "),
      });
    }
  }

  /** Resolves when the thread ends; rejects when KVM_RUN failed. */
  wait(): Promise<void> {
    return this.#thread.wait();
  }

  /**
   * Where the guest was at the triple fault being handled, in one line:
   * instruction and stack pointers, privilege level, control registers and
   * descriptor tables, which tell a guest bug (a bad stack or IDT) from a
   * state that could not have faulted. On Intel, KVM leaves them as they
   * were at the fault; AMD's SVM leaves the vCPU in its reset state after a
   * shutdown, which is then said instead. Call it only while the vCPU is
   * parked at an exit (its registers are unreadable during KVM_RUN).
   */
  faultState(): string {
    try {
      const r = getRegs(this.fd);
      const s = getSregs(this.fd);
      if (r.rip === RESET_RIP && s.cs.selector === RESET_CS) {
        return "an unknown state: KVM has already reset the vCPU (AMD SVM does at a shutdown)";
      }
      const hex = (v: bigint | number) => `0x${v.toString(16)}`;
      return `rip ${hex(r.rip)} rsp ${hex(r.rsp)} rflags ${hex(r.rflags)} ` +
        `cs ${hex(s.cs.selector)} (CPL ${s.cs.selector & 3}) ss ${hex(s.ss.selector)} ` +
        `cr0 ${hex(s.cr0)} cr2 ${hex(s.cr2)} cr3 ${hex(s.cr3)} cr4 ${hex(s.cr4)} ` +
        `efer ${hex(s.efer)} idt ${hex(s.idt.base)}/${hex(s.idt.limit)} ` +
        `gdt ${hex(s.gdt.base)}/${hex(s.gdt.limit)} tr ${hex(s.tr.base)}`;
    } catch (e) {
      return `an unknown state: registers unreadable (${(e as Error).message})`;
    }
  }

  /**
   * Where this vCPU is: as {@link close} found it (with its rip and MP state),
   * or, while it runs, its thread's exit count and run state.
   */
  report(): string {
    return this.lastState || this.#describe(this.#thread.stats(), "ago");
  }

  #describe(s: ReturnType<VcpuThread["stats"]>, since: string): string {
    return `vCPU ${this.id}: ${s.exits} exits, ` +
      `${s.parked ? "parked waiting for the VMM" : "in KVM_RUN"}` +
      (s.sinceLastExitMs === undefined
        ? ", never exited"
        : `, last exit ${s.sinceLastExitMs} ms ${since}`);
  }

  /** Stops the thread (if running) and releases the page and the fd. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const running = this.#thread.stats();
    await this.#thread.stop();
    // Out of KVM_RUN now, so the vCPU's registers can be read: where the guest was.
    let where = "";
    try {
      where = `rip 0x${getRegs(this.fd).rip.toString(16)}, ${getMpState(this.fd)}`;
    } catch (e) {
      where = `registers unreadable (${(e as Error).message})`;
    }
    this.lastState = `${this.#describe(running, "before the stop")}; ${where}`;
    this.run.close();
    closeFd(this.fd);
  }
}
