/**
 * The machine state (KVM clock, irqchips, PIT, devices) round trip through
 * real KVM, and its refusals of a machine that does not fit the VM.
 */
import { assert, assertEquals, assertThrows } from "../../../tests/assert.ts";
import { testsNeeding } from "../../../tests/tier.ts";
import { InvalidArgumentError } from "../../../common/errors.ts";
import { closeFd } from "../../../ffi/fd.ts";
import { createIrqchip, createPit2, createVm, openKvm } from "../../../ffi/kvm.ts";
import { Serial } from "../devices/serial/serial.ts";
import { I8042 } from "../devices/i8042/i8042.ts";
import { AcpiSleep } from "../devices/acpi_pm/sleep.ts";
import { fromBase64 } from "./blob.ts";
import { applyMachine, captureMachine, type MachineParts, parseMachineState } from "./machine.ts";

const test = testsNeeding({ paths: ["/dev/kvm"] });

function machine(kvm: number): { parts: MachineParts; serial: Serial; close: () => void } {
  const vmFd = createVm(kvm);
  createIrqchip(vmFd);
  createPit2(vmFd);
  const serial = new Serial(() => {}, () => {});
  const legacy = new Map<string, Serial | I8042 | AcpiSleep>([
    ["serial", serial],
    ["i8042", new I8042(() => {})],
    ["acpi", new AcpiSleep(() => {})],
  ]);
  return { parts: { vmFd, legacy, virtio: [] }, serial, close: () => closeFd(vmFd) };
}

const clockNs = (b64: string) => new DataView(fromBase64(b64).buffer).getBigUint64(0, true);

test("machine state: irqchips, PIT, devices and clock round-trip into another VM", () => {
  const kvm = openKvm();
  const a = machine(kvm);
  const b = machine(kvm);
  try {
    a.serial.write(7, Uint8Array.of(0x42)); // scratch register
    const saved = JSON.parse(JSON.stringify(captureMachine(a.parts, [])));
    const parsed = parseMachineState(saved, b.parts, 0);
    applyMachine(b.parts, parsed);
    const again = captureMachine(b.parts, []);
    assertEquals(again.irqchips, parsed.irqchips);
    assertEquals(again.devices, parsed.devices);
    const read = new Uint8Array(1);
    b.serial.read(7, read);
    assertEquals(read[0], 0x42);
    // The PIT's count-load times are host clock readings; the channel setup must match.
    assertEquals(fromBase64(again.pit).subarray(0, 16), fromBase64(parsed.pit).subarray(0, 16));
    // The guest clock goes on from the saved value, not from the host's.
    const delta = clockNs(again.clock) - clockNs(parsed.clock);
    assert(delta >= 0n && delta < 5_000_000_000n, `clock moved by ${delta} ns`);
  } finally {
    a.close();
    b.close();
    closeFd(kvm);
  }
});

test("machine state: another vCPU count or device set is refused by name", () => {
  const kvm = openKvm();
  const a = machine(kvm);
  try {
    const saved = captureMachine(a.parts, []);
    assertThrows(
      () => parseMachineState(saved, a.parts, 2),
      InvalidArgumentError,
      "Saved machine has vCPUs [], this VM [0,1]",
    );
    const fewer = { ...a.parts, legacy: new Map([["serial", a.serial]]) };
    assertThrows(
      () => parseMachineState(saved, fewer, 0),
      InvalidArgumentError,
      "Saved machine has devices acpi, i8042, serial, this VM serial",
    );
  } finally {
    a.close();
    closeFd(kvm);
  }
});
