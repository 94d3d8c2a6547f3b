/**
 * A 16550A UART (the guest's ttyS0 at port 0x3f8, IRQ 4): what Linux's 8250
 * driver needs to detect it and to send through it, with the transmit-empty
 * and receive interrupts, loopback for the driver's self-test, and input.
 * @module
 */
import type { BusDevice } from "../../bus.ts";
import * as z from "../../../../common/zod.ts";
import { byte, type DeviceState, parseState, type Stateful } from "../state.ts";

/** Legacy COM1 port and IRQ. */
export const COM1_PORT = 0x3f8;
export const COM1_IRQ = 4;
export const SERIAL_PORT_COUNT = 8;

const DATA = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;
const IER_RDI = 0x01, IER_THRI = 0x02;
const IIR_NONE = 0x01, IIR_THRI = 0x02, IIR_RDI = 0x04, IIR_FIFO = 0xc0;
const LCR_DLAB = 0x80;
const LSR_DR = 0x01, LSR_THRE = 0x20, LSR_TEMT = 0x40;
const MCR_LOOP = 0x10;
const MSR_DEFAULT = 0xb0; // DCD | DSR | CTS
const RX_FIFO_MAX = 64;

/** The saved form of the UART's registers and receive FIFO. */
const serialStateSchema = z.strictObject({
  ier: byte(),
  lcr: byte(),
  mcr: byte(),
  scr: byte(),
  dll: byte(),
  dlh: byte(),
  thrPending: z.boolean(),
  rx: z.array(byte()).check(z.maxLength(RX_FIFO_MAX)),
});

/** Serial port: bytes the guest sends go to `out`; `interrupt` raises IRQ 4. */
export class Serial implements BusDevice, Stateful {
  #ier = 0;
  #lcr = 0x03;
  #mcr = 0x08;
  #scr = 0;
  #dll = 0x0c;
  #dlh = 0;
  #thrPending = false;
  readonly #rx: number[] = [];

  constructor(
    private readonly out: (data: Uint8Array) => void,
    private readonly interrupt: () => void,
  ) {}

  saveState(): DeviceState {
    return {
      ier: this.#ier,
      lcr: this.#lcr,
      mcr: this.#mcr,
      scr: this.#scr,
      dll: this.#dll,
      dlh: this.#dlh,
      thrPending: this.#thrPending,
      rx: [...this.#rx],
    } satisfies z.infer<typeof serialStateSchema>;
  }

  restoreState(state: unknown): void {
    const s = parseState(serialStateSchema, state, "the serial port");
    this.#ier = s.ier;
    this.#lcr = s.lcr;
    this.#mcr = s.mcr;
    this.#scr = s.scr;
    this.#dll = s.dll;
    this.#dlh = s.dlh;
    this.#thrPending = s.thrPending;
    this.#rx.length = 0;
    this.#rx.push(...s.rx);
  }

  /** Queues input for the guest (dropped beyond the FIFO size, like hardware). */
  enqueueInput(data: Uint8Array): void {
    for (const b of data) if (this.#rx.length < RX_FIFO_MAX) this.#rx.push(b);
    if (this.#ier & IER_RDI) this.interrupt();
  }

  #iir(): number {
    if ((this.#ier & IER_RDI) && this.#rx.length > 0) return IIR_RDI | IIR_FIFO;
    if ((this.#ier & IER_THRI) && this.#thrPending) return IIR_THRI | IIR_FIFO;
    return IIR_NONE | IIR_FIFO;
  }

  #msr(): number {
    if (!(this.#mcr & MCR_LOOP)) return MSR_DEFAULT;
    const m = this.#mcr;
    return ((m & 0x08) << 4) | ((m & 0x04) << 4) | ((m & 0x01) << 5) | ((m & 0x02) << 3);
  }

  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    const dlab = (this.#lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case DATA:
        if (dlab) data[0] = this.#dll;
        else data[0] = this.#rx.shift() ?? 0;
        break;
      case IER:
        data[0] = dlab ? this.#dlh : this.#ier;
        break;
      case IIR_FCR: {
        const iir = this.#iir();
        if ((iir & 0x0f) === IIR_THRI) this.#thrPending = false; // reading IIR clears THRE
        data[0] = iir;
        break;
      }
      case LCR:
        data[0] = this.#lcr;
        break;
      case MCR:
        data[0] = this.#mcr;
        break;
      case LSR:
        data[0] = LSR_THRE | LSR_TEMT | (this.#rx.length > 0 ? LSR_DR : 0);
        break;
      case MSR:
        data[0] = this.#msr();
        break;
      case SCR:
        data[0] = this.#scr;
        break;
    }
  }

  write(offset: number, data: Uint8Array): void {
    const value = data[0];
    const dlab = (this.#lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case DATA:
        if (dlab) {
          this.#dll = value;
        } else if (this.#mcr & MCR_LOOP) {
          this.enqueueInput(Uint8Array.of(value));
        } else {
          this.out(Uint8Array.of(value));
          this.#thrPending = true;
          if (this.#ier & IER_THRI) this.interrupt();
        }
        break;
      case IER:
        if (dlab) {
          this.#dlh = value;
        } else {
          const enabling = (value & IER_THRI) && !(this.#ier & IER_THRI);
          this.#ier = value & 0x0f;
          if (enabling) {
            // The transmitter is always empty: announce it as soon as it is enabled.
            this.#thrPending = true;
            this.interrupt();
          }
        }
        break;
      case IIR_FCR:
        break; // FIFO control: the emulated FIFOs need no setup
      case LCR:
        this.#lcr = value;
        break;
      case MCR:
        this.#mcr = value & 0x1f;
        break;
      case SCR:
        this.#scr = value;
        break;
    }
  }
}
