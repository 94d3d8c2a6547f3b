/**
 * The KVM ioctls that read and write a whole machine's state, for snapshots:
 * per vCPU the registers, FPU and XSAVE area, XCRs, debug registers, LAPIC,
 * MSRs, pending events and MP state; per VM the KVM clock, the in-kernel
 * irqchip (PIC pair and IOAPIC) and PIT. Each blob is the kernel struct as
 * bytes, of the size the ioctl number encodes, so a saved vCPU is restored
 * bit for bit on the same kernel ABI; {@link STATE_SIZES} is the one list of
 * those sizes, which the saved form checks before an ioctl sees a byte.
 * @module
 */
import { E, SysError } from "./errno.ts";
import { FfiError } from "./errors.ts";
import { ioctlBuf, ioctlVal } from "./ioctl.ts";
import { KVM } from "./kvm_structs.ts";

/** ioctl numbers of the state ioctls (x86_64, linux/kvm.h). */
export const KVM_STATE = {
  GET_MSR_INDEX_LIST: 0xc004ae02,
  GET_CLOCK: 0x8030ae7c,
  SET_CLOCK: 0x4030ae7b,
  GET_IRQCHIP: 0xc208ae62,
  SET_IRQCHIP: 0x8208ae63,
  GET_PIT2: 0x8070ae9f,
  SET_PIT2: 0x4070aea0,
  GET_FPU: 0x81a0ae8c,
  SET_MP_STATE: 0x4004ae99,
  GET_VCPU_EVENTS: 0x8040ae9f,
  SET_VCPU_EVENTS: 0x4040aea0,
  GET_DEBUGREGS: 0x8080aea1,
  SET_DEBUGREGS: 0x4080aea2,
  GET_XSAVE: 0x9000aea4,
  SET_XSAVE: 0x5000aea5,
  GET_XCRS: 0x8188aea6,
  SET_XCRS: 0x4188aea7,
  KVMCLOCK_CTRL: 0xaead,
} as const;

/** Byte sizes of the kernel structs kept as blobs. */
export const STATE_SIZES = {
  regs: 144,
  sregs: 312,
  fpu: 416,
  xsave: 4096,
  xcrs: 392,
  debugregs: 128,
  lapic: 1024,
  events: 64,
  clock: 48,
  irqchip: 520,
  pit2: 112,
} as const;

/** A kernel struct kept as its bytes. */
type StateBlob = Uint8Array<ArrayBuffer>;

/** The in-kernel irqchips, by KVM chip id. */
export const IRQCHIP_IDS = { picMaster: 0, picSlave: 1, ioapic: 2 } as const;

/** KVM_GET_MSR_INDEX_LIST: every MSR index the kernel saves and restores for a vCPU. */
export function msrIndexList(kvmFd: number): number[] {
  for (let capacity = 256;; capacity *= 2) {
    const b = new Uint8Array(4 + capacity * 4);
    const v = new DataView(b.buffer);
    v.setUint32(0, capacity, true);
    try {
      ioctlBuf(kvmFd, KVM_STATE.GET_MSR_INDEX_LIST, b, "KVM_GET_MSR_INDEX_LIST");
    } catch (e) {
      // E2BIG: more MSRs than room; the kernel wrote the count it needs.
      if (e instanceof SysError && e.errno === E.E2BIG && capacity < 65536) continue;
      throw e;
    }
    const n = v.getUint32(0, true);
    return Array.from({ length: n }, (_, i) => v.getUint32(4 + i * 4, true));
  }
}

function get(fd: number, request: number, size: number, what: string): StateBlob {
  const b = new Uint8Array(size);
  ioctlBuf(fd, request, b, what);
  return b;
}

function set(fd: number, request: number, b: StateBlob, size: number, what: string): void {
  if (b.length !== size) {
    throw new FfiError("InvalidArgument", `${what}: state is ${b.length} bytes, want ${size}`);
  }
  ioctlBuf(fd, request, b, what);
}

/** The register-like state of one vCPU that moves as blobs (MSRs and MP state apart). */
export type VcpuBlobName =
  | "regs"
  | "sregs"
  | "fpu"
  | "xsave"
  | "xcrs"
  | "debugregs"
  | "lapic"
  | "events";

const VCPU_IOCTLS: Record<VcpuBlobName, { get: number; set: number; name: string }> = {
  regs: { get: KVM.GET_REGS, set: KVM.SET_REGS, name: "REGS" },
  sregs: { get: KVM.GET_SREGS, set: KVM.SET_SREGS, name: "SREGS" },
  fpu: { get: KVM_STATE.GET_FPU, set: KVM.SET_FPU, name: "FPU" },
  xsave: { get: KVM_STATE.GET_XSAVE, set: KVM_STATE.SET_XSAVE, name: "XSAVE" },
  xcrs: { get: KVM_STATE.GET_XCRS, set: KVM_STATE.SET_XCRS, name: "XCRS" },
  debugregs: { get: KVM_STATE.GET_DEBUGREGS, set: KVM_STATE.SET_DEBUGREGS, name: "DEBUGREGS" },
  lapic: { get: KVM.GET_LAPIC, set: KVM.SET_LAPIC, name: "LAPIC" },
  events: { get: KVM_STATE.GET_VCPU_EVENTS, set: KVM_STATE.SET_VCPU_EVENTS, name: "VCPU_EVENTS" },
};

/** KVM_GET_<name> on a vCPU fd. */
export function getVcpuBlob(vcpuFd: number, name: VcpuBlobName): StateBlob {
  const io = VCPU_IOCTLS[name];
  return get(vcpuFd, io.get, STATE_SIZES[name], `KVM_GET_${io.name}`);
}

/** KVM_SET_<name> on a vCPU fd. */
export function setVcpuBlob(vcpuFd: number, name: VcpuBlobName, b: StateBlob): void {
  const io = VCPU_IOCTLS[name];
  set(vcpuFd, io.set, b, STATE_SIZES[name], `KVM_SET_${io.name}`);
}

/** KVM_GET_MP_STATE as the raw value (0 runnable, 1 uninitialized, 3 halted, ...). */
export function getMpStateValue(vcpuFd: number): number {
  const b = get(vcpuFd, KVM.GET_MP_STATE, 4, "KVM_GET_MP_STATE");
  return new DataView(b.buffer).getUint32(0, true);
}

/** KVM_SET_MP_STATE. */
export function setMpStateValue(vcpuFd: number, state: number): void {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, state, true);
  ioctlBuf(vcpuFd, KVM_STATE.SET_MP_STATE, b, "KVM_SET_MP_STATE");
}

/**
 * KVM_GET_MSRS of every index in `indexes` that the vCPU can read. The list
 * KVM reports includes MSRs this CPU lacks; the kernel stops at the first it
 * cannot read, which is skipped, and the read goes on after it.
 */
export function readMsrs(vcpuFd: number, indexes: readonly number[]): [number, bigint][] {
  const out: [number, bigint][] = [];
  let rest = [...indexes];
  while (rest.length > 0) {
    const b = new Uint8Array(8 + rest.length * 16);
    const v = new DataView(b.buffer);
    v.setUint32(0, rest.length, true);
    rest.forEach((index, i) => v.setUint32(8 + i * 16, index, true));
    const n = ioctlBuf(vcpuFd, KVM.GET_MSRS, b, "KVM_GET_MSRS");
    for (let i = 0; i < n; i++) out.push([rest[i], v.getBigUint64(16 + i * 16, true)]);
    rest = rest.slice(n + 1);
  }
  return out;
}

/**
 * KVM_SET_MSRS of every entry. The kernel stops at the first entry it
 * refuses; that one is skipped and the rest written. Returns the indexes
 * refused (a host that lists an MSR it will not take back; the caller says
 * so).
 */
export function writeMsrs(vcpuFd: number, entries: readonly [number, bigint][]): number[] {
  const refused: number[] = [];
  let rest = [...entries];
  while (rest.length > 0) {
    const b = new Uint8Array(8 + rest.length * 16);
    const v = new DataView(b.buffer);
    v.setUint32(0, rest.length, true);
    rest.forEach(([index, data], i) => {
      v.setUint32(8 + i * 16, index, true);
      v.setBigUint64(16 + i * 16, data, true);
    });
    const n = ioctlBuf(vcpuFd, KVM.SET_MSRS, b, "KVM_SET_MSRS");
    if (n < rest.length) refused.push(rest[n][0]);
    rest = rest.slice(n + 1);
  }
  return refused;
}

/**
 * Tells KVM the guest was paused by the host (KVM_KVMCLOCK_CTRL), so its
 * soft-lockup watchdog does not count the pause; EINVAL (no kvmclock in the
 * guest yet) is fine.
 */
export function kvmclockPaused(vcpuFd: number): void {
  try {
    ioctlVal(vcpuFd, KVM_STATE.KVMCLOCK_CTRL, 0, "KVM_KVMCLOCK_CTRL");
  } catch (e) {
    if (!(e instanceof SysError && e.errno === E.INVAL)) throw e;
  }
}

/**
 * Completes an I/O or MMIO exit the vCPU thread left before it stopped: KVM
 * finishes the instruction on the next KVM_RUN, which `immediate_exit`
 * (set by the caller on the run page) ends at once with EINTR. Until this,
 * registers read back are those of the half-done instruction.
 */
export function completePendingExit(vcpuFd: number): void {
  try {
    ioctlVal(vcpuFd, KVM.RUN, 0, "KVM_RUN");
  } catch (e) {
    if (e instanceof SysError && e.errno === E.INTR) return;
    throw e;
  }
  throw new FfiError("Internal", "KVM_RUN with immediate_exit entered the guest");
}

/** KVM_GET_CLOCK: the kvmclock data of the VM. */
export function getClock(vmFd: number): StateBlob {
  return get(vmFd, KVM_STATE.GET_CLOCK, STATE_SIZES.clock, "KVM_GET_CLOCK");
}

/**
 * KVM_SET_CLOCK with the saved clock value and no flags: the guest's
 * monotonic clock goes on from where it was saved (wall time is the agent's
 * to set), whatever host time passed meanwhile.
 */
export function setClock(vmFd: number, saved: StateBlob): void {
  const b = saved.slice();
  if (b.length !== STATE_SIZES.clock) {
    throw new FfiError("InvalidArgument", `KVM_SET_CLOCK: state is ${b.length} bytes, want 48`);
  }
  b.fill(0, 8); // only the clock value: flags, realtime and host TSC are the saving host's
  ioctlBuf(vmFd, KVM_STATE.SET_CLOCK, b, "KVM_SET_CLOCK");
}

/** KVM_GET_IRQCHIP of chip `id` (struct kvm_irqchip). */
export function getIrqchip(vmFd: number, id: number): StateBlob {
  const b = new Uint8Array(STATE_SIZES.irqchip);
  new DataView(b.buffer).setUint32(0, id, true);
  ioctlBuf(vmFd, KVM_STATE.GET_IRQCHIP, b, `KVM_GET_IRQCHIP ${id}`);
  return b;
}

/** KVM_SET_IRQCHIP (the chip id is in the blob's first word). */
export function setIrqchip(vmFd: number, b: StateBlob): void {
  set(vmFd, KVM_STATE.SET_IRQCHIP, b, STATE_SIZES.irqchip, "KVM_SET_IRQCHIP");
}

/** KVM_GET_PIT2. */
export function getPit2(vmFd: number): StateBlob {
  return get(vmFd, KVM_STATE.GET_PIT2, STATE_SIZES.pit2, "KVM_GET_PIT2");
}

/** KVM_SET_PIT2. */
export function setPit2(vmFd: number, b: StateBlob): void {
  set(vmFd, KVM_STATE.SET_PIT2, b, STATE_SIZES.pit2, "KVM_SET_PIT2");
}
