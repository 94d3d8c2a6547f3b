/**
 * An Intel MultiProcessor table (spec 1.4) in the last KiB of base memory:
 * how a guest without ACPI learns its CPUs, the IOAPIC and the routing of
 * ISA interrupts, which is enough for Linux to start every vCPU.
 * @module
 */
import { InvalidArgumentError } from "../../../common/errors.ts";
import { APIC_DEFAULT_BASE, IOAPIC_BASE, MAX_IRQ } from "../layout.ts";

const FLOATING_SIZE = 16;
const HEADER_SIZE = 44;
const CPU_ENTRY_SIZE = 20;
const SMALL_ENTRY_SIZE = 8;
const APIC_VERSION = 0x14;
const IOAPIC_VERSION = 0x11;
/** Enabled, plus the bootstrap processor flag on CPU 0. */
const CPU_ENABLED = 1;
const CPU_BSP = 2;
/** Family 6 feature signature and FPU|APIC feature flags for the CPU entries. */
const CPU_SIGNATURE = 0x600;
const CPU_FEATURES = 0x201;
const ENTRY = { CPU: 0, BUS: 1, IOAPIC: 2, IO_INTERRUPT: 3, LOCAL_INTERRUPT: 4 } as const;
const INT_TYPE = { INT: 0, NMI: 1, EXTINT: 3 } as const;

/** The most vCPUs one table describes (APIC ids are one byte; the IOAPIC takes one). */
const MPTABLE_MAX_CPUS = 254;

function checksum(b: Uint8Array): number {
  let s = 0;
  for (const x of b) s = (s + x) & 0xff;
  return (0x100 - s) & 0xff;
}

/** Builds the floating pointer and configuration table to be placed at `addr`. */
export function buildMpTable(addr: number, cpus: number): Uint8Array<ArrayBuffer> {
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > MPTABLE_MAX_CPUS) {
    throw new InvalidArgumentError(`vCPU count ${cpus} is outside 1..${MPTABLE_MAX_CPUS}`);
  }
  const irqs = MAX_IRQ + 1;
  const entries = cpus + 1 + 1 + irqs + 2;
  const tableLen = HEADER_SIZE + cpus * CPU_ENTRY_SIZE + (entries - cpus) * SMALL_ENTRY_SIZE;
  const out = new Uint8Array(FLOATING_SIZE + tableLen);
  const v = new DataView(out.buffer);
  const ioapicId = cpus; // APIC ids 0..cpus-1 are the CPUs

  // Floating pointer structure.
  out.set(new TextEncoder().encode("_MP_"), 0);
  v.setUint32(4, addr + FLOATING_SIZE, true);
  out[8] = 1; // length in 16-byte units
  out[9] = 4; // spec revision 1.4

  // Configuration table header.
  const t = FLOATING_SIZE;
  out.set(new TextEncoder().encode("PCMP"), t);
  v.setUint16(t + 4, tableLen, true);
  out[t + 6] = 4;
  out.set(new TextEncoder().encode("RUNTMETS"), t + 8);
  out.set(new TextEncoder().encode("DRAGONBALLTS"), t + 16);
  v.setUint16(t + 34, entries, true);
  v.setUint32(t + 36, APIC_DEFAULT_BASE, true);

  let o = t + HEADER_SIZE;
  for (let id = 0; id < cpus; id++) {
    out[o] = ENTRY.CPU;
    out[o + 1] = id;
    out[o + 2] = APIC_VERSION;
    out[o + 3] = CPU_ENABLED | (id === 0 ? CPU_BSP : 0);
    v.setUint32(o + 4, CPU_SIGNATURE, true);
    v.setUint32(o + 8, CPU_FEATURES, true);
    o += CPU_ENTRY_SIZE;
  }
  out[o] = ENTRY.BUS;
  out[o + 1] = 0;
  out.set(new TextEncoder().encode("ISA   "), o + 2);
  o += SMALL_ENTRY_SIZE;
  out[o] = ENTRY.IOAPIC;
  out[o + 1] = ioapicId;
  out[o + 2] = IOAPIC_VERSION;
  out[o + 3] = 1; // enabled
  v.setUint32(o + 4, IOAPIC_BASE, true);
  o += SMALL_ENTRY_SIZE;
  for (let irq = 0; irq < irqs; irq++) {
    out[o] = ENTRY.IO_INTERRUPT;
    out[o + 1] = INT_TYPE.INT;
    v.setUint16(o + 2, 0, true); // bus-default polarity and trigger (ISA: high, edge)
    out[o + 4] = 0; // source bus
    out[o + 5] = irq;
    out[o + 6] = ioapicId;
    out[o + 7] = irq;
    o += SMALL_ENTRY_SIZE;
  }
  for (const [type, lint] of [[INT_TYPE.EXTINT, 0], [INT_TYPE.NMI, 1]]) {
    out[o] = ENTRY.LOCAL_INTERRUPT;
    out[o + 1] = type;
    out[o + 4] = 0;
    out[o + 5] = 0;
    out[o + 6] = 0xff; // every local APIC
    out[o + 7] = lint;
    o += SMALL_ENTRY_SIZE;
  }
  out[t + 7] = checksum(out.subarray(t, t + tableLen));
  out[10] = checksum(out.subarray(0, FLOATING_SIZE));
  return out;
}
