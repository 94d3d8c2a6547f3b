import { assertEquals, assertThrows } from "../../../../tests/assert.ts";
import { InvalidArgumentError } from "../../../../common/errors.ts";
import { Serial } from "./serial.ts";

function io(s: Serial) {
  return {
    r: (off: number) => {
      const b = new Uint8Array(1);
      s.read(off, b);
      return b[0];
    },
    w: (off: number, v: number) => s.write(off, Uint8Array.of(v)),
  };
}

Deno.test("serial: transmitted bytes reach the sink; LSR says the transmitter is empty", () => {
  const out: number[] = [];
  const s = new Serial((d) => out.push(...d), () => {});
  const { r, w } = io(s);
  w(0, 0x41);
  w(0, 0x42);
  assertEquals(String.fromCharCode(...out), "AB");
  assertEquals(r(5) & 0x60, 0x60);
});

Deno.test("serial: THR-empty interrupt when enabled and after each byte; IIR read clears it", () => {
  let irqs = 0;
  const s = new Serial(() => {}, () => irqs++);
  const { r, w } = io(s);
  w(1, 0x02);
  assertEquals(irqs, 1);
  assertEquals(r(2) & 0x0f, 0x02);
  assertEquals(r(2) & 0x0f, 0x01); // cleared by the read
  w(0, 0x41);
  assertEquals(irqs, 2);
});

Deno.test("serial: loopback mode echoes to the receiver and mirrors modem lines", () => {
  const out: number[] = [];
  const s = new Serial((d) => out.push(...d), () => {});
  const { r, w } = io(s);
  w(4, 0x1a); // loop | OUT2 | RTS
  assertEquals(r(6) & 0xf0, 0x90);
  w(0, 0x55);
  assertEquals(out.length, 0);
  assertEquals(r(5) & 1, 1);
  assertEquals(r(0), 0x55);
  w(7, 0xa5);
  assertEquals(r(7), 0xa5);
});

Deno.test("serial: divisor latch is separate from data and IER", () => {
  const s = new Serial(() => {}, () => {});
  const { r, w } = io(s);
  w(3, 0x80);
  w(0, 0x01);
  w(1, 0x00);
  assertEquals([r(0), r(1)], [1, 0]);
  w(3, 0x03);
  w(1, 0x01);
  assertEquals(r(1), 1);
});

Deno.test("serial: registers and pending input round-trip through the saved form", () => {
  const a = new Serial(() => {}, () => {});
  const { w } = io(a);
  w(3, 0x83); // DLAB on
  w(0, 0x01); // divisor 1
  w(3, 0x03);
  w(7, 0x5a);
  w(1, 0x03); // RDI | THRI
  a.enqueueInput(new TextEncoder().encode("hi"));
  const saved = JSON.parse(JSON.stringify(a.saveState()));
  const b = new Serial(() => {}, () => {});
  b.restoreState(saved);
  assertEquals(b.saveState(), a.saveState());
  assertEquals([io(b).r(7), io(b).r(0), io(b).r(0)], [0x5a, 0x68, 0x69]);
});

Deno.test("serial: a malformed saved state is refused by name", () => {
  const s = new Serial(() => {}, () => {});
  const e = assertThrows(
    () => s.restoreState({ ...s.saveState(), lcr: 300 }),
    InvalidArgumentError,
  );
  assertEquals(e.message.startsWith("Saved state of the serial port is malformed at lcr"), true);
});
