/**
 * Minimal ACPI tables for a hardware-reduced x86 guest, the way Firecracker
 * announces devices to kernels built without virtio-mmio command-line
 * support (Debian's among them): RSDP → XSDT → FADT (hardware-reduced, no
 * legacy devices) → DSDT with one `LNRO0005` (virtio-mmio) device per
 * window, plus a MADT listing the local APICs and the IOAPIC.
 * @module
 */
import { InvalidArgumentError } from "../../../common/errors.ts";
import { APIC_DEFAULT_BASE, IOAPIC_BASE } from "../layout.ts";
import { S5_SLEEP_TYPE, SLEEP_CONTROL_PORT } from "../devices/acpi_pm/sleep.ts";

/** One virtio-mmio window to describe in the DSDT. */
export interface AcpiMmioDevice {
  addr: number;
  size: number;
  gsi: number;
}

const OEM_ID = "RTMETS";
const OEM_TABLE_ID = "DRAGONBA";
const CREATOR_ID = "RTTS";
const FADT_REVISION = 6;
const FADT_MINOR = 5;
const FADT_SIZE = 276;
const FADT_F_HW_REDUCED_ACPI = 1 << 20;
const FADT_F_PWR_BUTTON = 1 << 4;
const FADT_F_SLP_BUTTON = 1 << 5;
/** IAPC_BOOT_ARCH: VGA absent, MSI unsupported, ASPM absent, CMOS RTC absent; no legacy devices, no 8042. */
const IAPC_BOOT_ARCH = (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5);

function checksum(b: Uint8Array): number {
  let s = 0;
  for (const x of b) s = (s + x) & 0xff;
  return (0x100 - s) & 0xff;
}

function ascii(s: string, len: number): Uint8Array {
  const out = new Uint8Array(len).fill(0x20);
  out.set(new TextEncoder().encode(s).subarray(0, len));
  return out;
}

/** A table: the 36-byte header followed by `body`, checksummed. */
function sdt(
  signature: string,
  revision: number,
  body: Uint8Array,
): Uint8Array<ArrayBuffer> {
  const t = new Uint8Array(36 + body.length);
  const v = new DataView(t.buffer);
  t.set(ascii(signature, 4), 0);
  v.setUint32(4, t.length, true);
  t[8] = revision;
  t.set(ascii(OEM_ID, 6), 10);
  t.set(ascii(OEM_TABLE_ID, 8), 16);
  v.setUint32(24, 1, true);
  t.set(ascii(CREATOR_ID, 4), 28);
  v.setUint32(32, 1, true);
  t.set(body, 36);
  t[9] = checksum(t);
  return t;
}

// --- AML --------------------------------------------------------------------

/** AML PkgLength encoding of a package whose contents are `len` bytes. */
export function pkgLength(len: number): number[] {
  // The encoded length includes the PkgLength bytes themselves.
  if (len + 1 <= 0x3f) return [len + 1];
  for (let n = 2; n <= 4; n++) {
    const total = len + n;
    if (total < 1 << (4 + 8 * (n - 1))) {
      const out = [((n - 1) << 6) | (total & 0x0f)];
      for (let i = 0; i < n - 1; i++) out.push((total >> (4 + 8 * i)) & 0xff);
      return out;
    }
  }
  throw new InvalidArgumentError(`AML package of ${len} bytes is too large`);
}

function nameSeg(s: string): number[] {
  if (!/^[A-Z_][A-Z0-9_]{0,3}$/.test(s)) throw new InvalidArgumentError(`Bad AML name ${s}`);
  return [...new TextEncoder().encode(s.padEnd(4, "_"))];
}

function amlInteger(n: number): number[] {
  if (n === 0) return [0x00];
  if (n === 1) return [0x01];
  if (n <= 0xff) return [0x0a, n];
  if (n <= 0xffff) return [0x0b, n & 0xff, n >> 8];
  return [0x0c, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];
}

function amlName(name: string, value: number[]): number[] {
  return [0x08, ...nameSeg(name), ...value];
}

function amlString(s: string): number[] {
  return [0x0d, ...new TextEncoder().encode(s), 0x00];
}

function amlBuffer(bytes: number[]): number[] {
  const body = [...amlInteger(bytes.length), ...bytes];
  return [0x11, ...pkgLength(body.length), ...body];
}

function u32le(n: number): number[] {
  return [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];
}

/** _CRS for one window: Memory32Fixed (read-write) and an edge, active-high interrupt. */
function mmioResources(d: AcpiMmioDevice): number[] {
  const mem = [0x86, 0x09, 0x00, 0x01, ...u32le(d.addr), ...u32le(d.size)];
  // Extended interrupt: consumer (bit 0), edge (bit 1), active high, exclusive.
  const irq = [0x89, 0x06, 0x00, 0x03, 0x01, ...u32le(d.gsi)];
  return [...mem, ...irq, 0x79, 0x00];
}

/** AML for `Device (Vnnn) { _HID "LNRO0005", _UID n, _CRS }`. */
function virtioDevice(i: number, d: AcpiMmioDevice): number[] {
  const body = [
    ...nameSeg(`V${i.toString(16).toUpperCase().padStart(3, "0")}`),
    ...amlName("_HID", amlString("LNRO0005")),
    ...amlName("_UID", amlInteger(i)),
    ...amlName("_CRS", amlBuffer(mmioResources(d))),
  ];
  return [0x5b, 0x82, ...pkgLength(body.length), ...body];
}

/**
 * AML for COM1 (`PNP0501`, ports 0x3F8..0x3FF, IRQ 4). A hardware-reduced
 * guest has no legacy PIC and maps no ISA interrupts by itself: the serial
 * port's IRQ only works when ACPI describes it.
 */
function com1Device(): number[] {
  const io = [0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x00, 0x08]; // IO (Decode16, 0x3F8, 0x3F8, 0, 8)
  const irq = [0x22, 1 << 4, 0x00]; // IRQNoFlags () {4}
  const pnp0501 = [0x0c, 0x41, 0xd0, 0x05, 0x01]; // EisaId ("PNP0501")
  const body = [
    ...nameSeg("COM1"),
    ...amlName("_HID", pnp0501),
    ...amlName("_UID", amlInteger(0)),
    ...amlName("_CRS", amlBuffer([...io, ...irq, 0x79, 0x00])),
  ];
  return [0x5b, 0x82, ...pkgLength(body.length), ...body];
}

/** `Name (_S5, Package () { 5 })`: the sleep type written to power off. */
function s5Object(): number[] {
  const pkg = [0x01, ...amlInteger(S5_SLEEP_TYPE)];
  return amlName("_S5", [0x12, ...pkgLength(pkg.length), ...pkg]);
}

/** The DSDT body: `\_S5` and `Scope (\_SB) { COM1, virtio devices }`. */
function dsdtAml(devices: readonly AcpiMmioDevice[]): Uint8Array {
  const inner = [
    0x5c,
    ...nameSeg("_SB"),
    ...com1Device(),
    ...devices.flatMap((d, i) => virtioDevice(i, d)),
  ];
  return Uint8Array.from([...s5Object(), 0x10, ...pkgLength(inner.length), ...inner]);
}

// --- tables -----------------------------------------------------------------

function fadt(dsdtAddr: number): Uint8Array<ArrayBuffer> {
  const body = new Uint8Array(FADT_SIZE - 36);
  const v = new DataView(body.buffer);
  const at = (off: number) => off - 36;
  v.setUint32(at(40), dsdtAddr, true);
  v.setUint16(at(109), IAPC_BOOT_ARCH, true);
  v.setUint32(at(112), FADT_F_HW_REDUCED_ACPI | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON, true);
  body[at(131)] = FADT_MINOR;
  v.setBigUint64(at(140), BigInt(dsdtAddr), true);
  // Sleep control and status registers (generic address structures, system I/O, 8-bit).
  for (const [off, port] of [[244, SLEEP_CONTROL_PORT], [256, SLEEP_CONTROL_PORT + 1]]) {
    body[at(off)] = 1; // SystemIO
    body[at(off + 1)] = 8; // bit width
    body[at(off + 3)] = 1; // byte access
    v.setBigUint64(at(off + 4), BigInt(port), true);
  }
  body.set(ascii("RTMETSVM", 8), at(268)); // hypervisor vendor identity
  return sdt("FACP", FADT_REVISION, body);
}

function madt(cpus: number): Uint8Array<ArrayBuffer> {
  const body: number[] = [...u32le(APIC_DEFAULT_BASE), ...u32le(0)];
  for (let id = 0; id < cpus; id++) body.push(0, 8, id, id, ...u32le(1)); // local APIC, enabled
  body.push(1, 12, cpus, 0, ...u32le(IOAPIC_BASE), ...u32le(0)); // IOAPIC, GSI base 0
  return sdt("APIC", 6, Uint8Array.from(body));
}

function rsdp(xsdtAddr: number): Uint8Array<ArrayBuffer> {
  const t = new Uint8Array(36);
  const v = new DataView(t.buffer);
  t.set(new TextEncoder().encode("RSD PTR "), 0);
  t.set(ascii(OEM_ID, 6), 9);
  t[15] = 2; // ACPI 2.0+
  v.setUint32(20, 36, true);
  v.setBigUint64(24, BigInt(xsdtAddr), true);
  t[8] = checksum(t.subarray(0, 20));
  t[32] = checksum(t);
  return t;
}

/** All tables placed from `base` (RSDP first); returns the bytes to write there. */
export function buildAcpiTables(
  base: number,
  cpus: number,
  devices: readonly AcpiMmioDevice[],
): Uint8Array<ArrayBuffer> {
  const align = (n: number) => (n + 15) & ~15;
  const xsdtAddr = base + 48;
  const fadtAddr = align(xsdtAddr + 36 + 16);
  const madtTable = madt(cpus);
  const madtAddr = align(fadtAddr + FADT_SIZE);
  const dsdtAddr = align(madtAddr + madtTable.length);
  const dsdt = sdt("DSDT", 2, dsdtAml(devices));
  const xsdtBody = new Uint8Array(16);
  new DataView(xsdtBody.buffer).setBigUint64(0, BigInt(fadtAddr), true);
  new DataView(xsdtBody.buffer).setBigUint64(8, BigInt(madtAddr), true);
  const out = new Uint8Array(dsdtAddr + dsdt.length - base);
  out.set(rsdp(xsdtAddr), 0);
  out.set(sdt("XSDT", 1, xsdtBody), xsdtAddr - base);
  out.set(fadt(dsdtAddr), fadtAddr - base);
  out.set(madtTable, madtAddr - base);
  out.set(dsdt, dsdtAddr - base);
  return out;
}
