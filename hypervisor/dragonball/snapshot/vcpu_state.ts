/**
 * One vCPU's saved state: general, segment and control registers, FPU and
 * XSAVE area, XCRs, debug registers, LAPIC, pending events, MP state and the
 * MSRs KVM reports it saves. Captured from a stopped vCPU (its pending I/O
 * exit completed first) and applied to a fresh vCPU of the same CPUID, in
 * the order KVM needs: MP state and registers first, the LAPIC before the
 * MSRs (the TSC deadline timer needs the LAPIC's mode), events last.
 * @module
 */
import * as z from "../../../common/zod.ts";
import {
  getMpStateValue,
  getVcpuBlob,
  readMsrs,
  setMpStateValue,
  setVcpuBlob,
  STATE_SIZES,
  type VcpuBlobName,
  writeMsrs,
} from "../../../ffi/kvm_state.ts";
import { parseState } from "../devices/state.ts";
import { blob, fromBase64, hex64, toBase64 } from "./blob.ts";

/** The blobs in apply order. */
const BLOBS: readonly VcpuBlobName[] = [
  "regs",
  "sregs",
  "fpu",
  "xsave",
  "xcrs",
  "debugregs",
  "lapic",
  "events",
];

/** The saved form of one vCPU. */
export const vcpuStateSchema = z.strictObject({
  id: z.number().check(z.int(), z.minimum(0)),
  mpState: z.number().check(z.int(), z.minimum(0), z.maximum(16)),
  regs: blob(STATE_SIZES.regs),
  sregs: blob(STATE_SIZES.sregs),
  fpu: blob(STATE_SIZES.fpu),
  xsave: blob(STATE_SIZES.xsave),
  xcrs: blob(STATE_SIZES.xcrs),
  debugregs: blob(STATE_SIZES.debugregs),
  lapic: blob(STATE_SIZES.lapic),
  events: blob(STATE_SIZES.events),
  /** [index, value as hex] pairs. */
  msrs: z.array(z.tuple([z.number().check(z.int(), z.minimum(0)), hex64()])),
});

/** A vCPU's saved state. */
export type VcpuState = z.infer<typeof vcpuStateSchema>;

/**
 * Reads vCPU `id`'s state from `fd` (stopped, its last exit completed).
 * `msrIndexes` is the list KVM_GET_MSR_INDEX_LIST reported.
 */
export function captureVcpu(id: number, fd: number, msrIndexes: readonly number[]): VcpuState {
  // The MP state first: reading it makes KVM fold pending LAPIC events into the state read next.
  const mpState = getMpStateValue(fd);
  const blobs = Object.fromEntries(BLOBS.map((n) => [n, toBase64(getVcpuBlob(fd, n))]));
  return {
    id,
    mpState,
    ...(blobs as Record<VcpuBlobName, string>),
    msrs: readMsrs(fd, msrIndexes).map(([i, v]) => [i, v.toString(16)] as [number, string]),
  };
}

/** Checks a saved vCPU (sizes of every blob, MSR values) before any of it reaches KVM. */
export function parseVcpuState(value: unknown, what: string): VcpuState {
  return parseState(vcpuStateSchema, value, what);
}

/**
 * Writes a saved state into a fresh vCPU; returns the MSRs KVM refused to
 * take back (each skipped, the rest written).
 */
export function applyVcpu(fd: number, s: VcpuState): number[] {
  setMpStateValue(fd, s.mpState);
  for (const n of BLOBS.slice(0, -1)) setVcpuBlob(fd, n, fromBase64(s[n]));
  const refused = writeMsrs(fd, s.msrs.map(([i, v]) => [i, BigInt(`0x${v}`)]));
  setVcpuBlob(fd, "events", fromBase64(s.events));
  return refused;
}
