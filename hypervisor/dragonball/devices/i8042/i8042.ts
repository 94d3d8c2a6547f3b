/**
 * A minimal i8042 keyboard controller: enough of the controller protocol
 * (command byte, self-tests, output port) for Linux's driver to probe it
 * without spinning on timeouts, and the "pulse reset line" command (0xFE to
 * port 0x64) that asks the VMM to end the VM. No keyboard is attached, so
 * keyboard commands get no answer and the driver gives up on its own.
 * @module
 */
import type { BusDevice } from "../../bus.ts";
import * as z from "../../../../common/zod.ts";
import { byte, type DeviceState, parseState, type Stateful } from "../state.ts";

/** Ports 0x60..0x64. */
export const I8042_PORT = 0x60;
export const I8042_PORT_COUNT = 5;
const DATA_OFFSET = 0;
const COMMAND_OFFSET = 4;

const CMD = {
  READ_CTR: 0x20,
  WRITE_CTR: 0x60,
  AUX_DISABLE: 0xa7,
  AUX_ENABLE: 0xa8,
  AUX_TEST: 0xa9,
  SELF_TEST: 0xaa,
  KBD_TEST: 0xab,
  KBD_DISABLE: 0xad,
  KBD_ENABLE: 0xae,
  READ_OUTPUT_PORT: 0xd0,
  WRITE_OUTPUT_PORT: 0xd1,
  WRITE_AUX: 0xd4,
  RESET_CPU: 0xfe,
} as const;
const STATUS_OBF = 0x01;
const STATUS_SYS = 0x04;
const STATUS_CMD = 0x08;
const CTR_KBD_DISABLE = 0x10;
const CTR_AUX_DISABLE = 0x20;
const SELF_TEST_OK = 0x55;
const PORT_TEST_OK = 0x00;
/** The aux (mouse) port is absent: its interface test reports a clock line stuck low. */
const AUX_TEST_FAIL = 0x01;

/** Bytes waiting in the output buffer: a command answers at most one, so a few is plenty. */
const OUT_MAX = 16;

/** The saved form of the controller's registers and output buffer. */
const i8042StateSchema = z.strictObject({
  ctr: byte(),
  outputPort: byte(),
  status: byte(),
  out: z.array(byte()).check(z.maxLength(OUT_MAX)),
  pending: byte(),
});

/** i8042 that reports the guest's reset request through `onReset`. */
export class I8042 implements BusDevice, Stateful {
  #ctr = 0x45; // keyboard interrupt, system flag, translation
  #outputPort = 0x01;
  #status = STATUS_SYS;
  readonly #out: number[] = [];
  /** The command whose data byte the next write to port 0x60 carries. */
  #pending = 0;

  constructor(private readonly onReset: () => void) {}

  #push(b: number): void {
    if (this.#out.length < OUT_MAX) this.#out.push(b);
  }

  saveState(): DeviceState {
    return {
      ctr: this.#ctr,
      outputPort: this.#outputPort,
      status: this.#status,
      out: [...this.#out],
      pending: this.#pending,
    } satisfies z.infer<typeof i8042StateSchema>;
  }

  restoreState(state: unknown): void {
    const s = parseState(i8042StateSchema, state, "the i8042 controller");
    this.#ctr = s.ctr;
    this.#outputPort = s.outputPort;
    this.#status = s.status;
    this.#out.length = 0;
    this.#out.push(...s.out);
    this.#pending = s.pending;
  }

  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    if (offset === COMMAND_OFFSET) {
      data[0] = this.#status | (this.#out.length > 0 ? STATUS_OBF : 0);
    } else if (offset === DATA_OFFSET) {
      data[0] = this.#out.shift() ?? 0;
    }
  }

  write(offset: number, data: Uint8Array): void {
    const b = data[0];
    if (offset === COMMAND_OFFSET) {
      this.#status |= STATUS_CMD;
      this.#command(b);
    } else if (offset === DATA_OFFSET) {
      this.#status &= ~STATUS_CMD;
      const cmd = this.#pending;
      this.#pending = 0;
      if (cmd === CMD.WRITE_CTR) this.#ctr = b;
      else if (cmd === CMD.WRITE_OUTPUT_PORT) this.#outputPort = b;
      // Bytes for the keyboard or the aux port go nowhere: no device is attached.
    }
  }

  #command(c: number): void {
    switch (c) {
      case CMD.READ_CTR:
        this.#push(this.#ctr);
        break;
      case CMD.WRITE_CTR:
      case CMD.WRITE_OUTPUT_PORT:
      case CMD.WRITE_AUX:
        this.#pending = c;
        break;
      case CMD.SELF_TEST:
        this.#push(SELF_TEST_OK);
        break;
      case CMD.KBD_TEST:
        this.#push(PORT_TEST_OK);
        break;
      case CMD.AUX_TEST:
        this.#push(AUX_TEST_FAIL);
        break;
      case CMD.KBD_DISABLE:
        this.#ctr |= CTR_KBD_DISABLE;
        break;
      case CMD.KBD_ENABLE:
        this.#ctr &= ~CTR_KBD_DISABLE;
        break;
      case CMD.AUX_DISABLE:
        this.#ctr |= CTR_AUX_DISABLE;
        break;
      case CMD.AUX_ENABLE:
        this.#ctr &= ~CTR_AUX_DISABLE;
        break;
      case CMD.READ_OUTPUT_PORT:
        this.#push(this.#outputPort);
        break;
      case CMD.RESET_CPU:
        this.onReset();
        break;
    }
  }
}
