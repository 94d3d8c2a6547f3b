/**
 * The ACPI sleep control register of a hardware-reduced guest (FADT
 * SLEEP_CONTROL_REG, one I/O port): Linux powers off by writing SLP_EN with
 * the `\_S5` sleep type there, and the VMM ends the VM. The status register
 * next to it reads as zero.
 * @module
 */
import type { BusDevice } from "../../bus.ts";
import { type DeviceState, EMPTY_STATE, parseState, type Stateful } from "../state.ts";

/** I/O ports of the sleep control (0x600) and status (0x601) registers. */
export const SLEEP_CONTROL_PORT = 0x600;
export const SLEEP_PORT_COUNT = 2;
/** The `\_S5` sleep type the DSDT announces. */
export const S5_SLEEP_TYPE = 5;
const SLP_EN = 1 << 5;

/** Calls `onPowerOff` when the guest enters S5. */
export class AcpiSleep implements BusDevice, Stateful {
  constructor(private readonly onPowerOff: () => void) {}

  /** The registers hold nothing between accesses: the state is empty. */
  saveState(): DeviceState {
    return {};
  }

  restoreState(state: unknown): void {
    parseState(EMPTY_STATE, state, "the ACPI sleep control");
  }

  read(_offset: number, data: Uint8Array): void {
    data.fill(0);
  }

  write(offset: number, data: Uint8Array): void {
    const v = data[0];
    if (offset === 0 && (v & SLP_EN) && ((v >> 2) & 7) === S5_SLEEP_TYPE) this.onPowerOff();
  }
}
