/**
 * The machine state of a built-in-VMM VM beyond its memory: the VM's KVM
 * clock, in-kernel irqchips (PIC pair, IOAPIC) and PIT, every vCPU, and
 * every device (the legacy ones by name, the virtio-mmio transports in slot
 * order). Capture reads a paused VM; apply writes into a VM built with the
 * same configuration before any vCPU runs.
 * @module
 */
import * as z from "../../../common/zod.ts";
import { InvalidArgumentError } from "../../../common/errors.ts";
import {
  getClock,
  getIrqchip,
  getPit2,
  IRQCHIP_IDS,
  setClock,
  setIrqchip,
  setPit2,
  STATE_SIZES,
} from "../../../ffi/kvm_state.ts";
import type { DeviceState, Stateful } from "../devices/state.ts";
import { parseState } from "../devices/state.ts";
import { blob, fromBase64, toBase64 } from "./blob.ts";
import { vcpuStateSchema } from "./vcpu_state.ts";

/** The saved form of a machine (memory apart). */
const machineStateSchema = z.strictObject({
  clock: blob(STATE_SIZES.clock),
  /** PIC master, PIC slave, IOAPIC (KVM chip ids 0, 1, 2). */
  irqchips: z.tuple([
    blob(STATE_SIZES.irqchip),
    blob(STATE_SIZES.irqchip),
    blob(STATE_SIZES.irqchip),
  ]),
  pit: blob(STATE_SIZES.pit2),
  vcpus: z.array(vcpuStateSchema),
  devices: z.strictObject({
    legacy: z.record(z.string(), z.unknown()),
    virtio: z.array(z.unknown()),
  }),
});

/** A machine's saved state. */
export type MachineState = z.infer<typeof machineStateSchema>;

/** The parts of a VM its state lives in. */
export interface MachineParts {
  vmFd: number;
  /** Legacy devices by name ("serial", "i8042", "acpi"). */
  legacy: ReadonlyMap<string, Stateful>;
  /** virtio-mmio transports, in slot order. */
  virtio: readonly (Stateful & { resumeAfterRestore(): void })[];
}

/** Reads the VM-wide KVM state and every device's (the vCPUs come captured). */
export function captureMachine(
  p: MachineParts,
  vcpus: MachineState["vcpus"],
): MachineState {
  const legacy: Record<string, DeviceState> = {};
  for (const [name, dev] of p.legacy) legacy[name] = dev.saveState();
  return {
    clock: toBase64(getClock(p.vmFd)),
    irqchips: [IRQCHIP_IDS.picMaster, IRQCHIP_IDS.picSlave, IRQCHIP_IDS.ioapic].map((id) =>
      toBase64(getIrqchip(p.vmFd, id))
    ) as [string, string, string],
    pit: toBase64(getPit2(p.vmFd)),
    vcpus,
    devices: { legacy, virtio: p.virtio.map((t) => t.saveState()) },
  };
}

/** Checks a saved machine's form and that it fits `vcpus` vCPUs and these devices. */
export function parseMachineState(value: unknown, p: MachineParts, vcpus: number): MachineState {
  const s = parseState(machineStateSchema, value, "the machine");
  const ids = s.vcpus.map((v) => v.id).join(",");
  const want = Array.from({ length: vcpus }, (_, i) => i).join(",");
  if (ids !== want) {
    throw new InvalidArgumentError(`Saved machine has vCPUs [${ids}], this VM [${want}]`);
  }
  const names = Object.keys(s.devices.legacy).sort().join(", ");
  const mine = [...p.legacy.keys()].sort().join(", ");
  if (names !== mine) {
    throw new InvalidArgumentError(`Saved machine has devices ${names}, this VM ${mine}`);
  }
  if (s.devices.virtio.length !== p.virtio.length) {
    throw new InvalidArgumentError(
      `Saved machine has ${s.devices.virtio.length} virtio devices, this VM ${p.virtio.length}`,
    );
  }
  return s;
}

/**
 * Writes the VM-wide KVM state and every device's into a VM built for it.
 * The caller restores the vCPUs next, then calls {@link resumeDevices}.
 */
export function applyMachine(p: MachineParts, s: MachineState): void {
  setPit2(p.vmFd, fromBase64(s.pit));
  for (const chip of s.irqchips) setIrqchip(p.vmFd, fromBase64(chip));
  setClock(p.vmFd, fromBase64(s.clock));
  for (const [name, dev] of p.legacy) dev.restoreState(s.devices.legacy[name]);
  p.virtio.forEach((t, i) => t.restoreState(s.devices.virtio[i]));
}

/**
 * Lets restored devices reach the guest (interrupts included) once every
 * vCPU has its state: an interrupt raised before a vCPU's LAPIC is restored
 * would be overwritten with it.
 */
export function resumeDevices(p: MachineParts): void {
  for (const t of p.virtio) t.resumeAfterRestore();
}
