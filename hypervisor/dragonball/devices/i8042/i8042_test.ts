import { assertEquals, assertThrows } from "../../../../tests/assert.ts";
import { InvalidArgumentError } from "../../../../common/errors.ts";
import { I8042 } from "./i8042.ts";

Deno.test("i8042: 0xFE on the command port requests a reset", () => {
  let resets = 0;
  const dev = new I8042(() => resets++);
  dev.write(4, Uint8Array.of(0xfe));
  dev.write(0, Uint8Array.of(0xfe)); // data port: not a reset
  assertEquals(resets, 1);
});

Deno.test("i8042: self-test and command byte answer through the output buffer", () => {
  const dev = new I8042(() => {});
  const read = (off: number) => {
    const b = new Uint8Array(1);
    dev.read(off, b);
    return b[0];
  };
  assertEquals(read(4) & 1, 0);
  dev.write(4, Uint8Array.of(0xaa));
  assertEquals(read(4) & 1, 1);
  assertEquals(read(0), 0x55);
  dev.write(4, Uint8Array.of(0x60));
  dev.write(0, Uint8Array.of(0x47));
  dev.write(4, Uint8Array.of(0x20));
  assertEquals(read(0), 0x47);
  assertEquals(read(4) & 1, 0);
});

Deno.test("i8042: command byte, output buffer and a half-done command round-trip", () => {
  const a = new I8042(() => {});
  a.write(4, Uint8Array.of(0xad)); // keyboard off: changes the command byte
  a.write(4, Uint8Array.of(0xaa)); // self-test answer waits in the output buffer
  a.write(4, Uint8Array.of(0x60)); // write-command-byte, data byte still to come
  const b = new I8042(() => {});
  b.restoreState(JSON.parse(JSON.stringify(a.saveState())));
  assertEquals(b.saveState(), a.saveState());
  b.write(0, Uint8Array.of(0x47)); // the pending command takes it
  b.write(4, Uint8Array.of(0x20));
  const out = new Uint8Array(1);
  b.read(0, out);
  assertEquals(out[0], 0x55);
  b.read(0, out);
  assertEquals(out[0], 0x47);
});

Deno.test("i8042: a saved state with an unknown field is refused", () => {
  const e = assertThrows(
    () => new I8042(() => {}).restoreState({ ...new I8042(() => {}).saveState(), extra: 1 }),
    InvalidArgumentError,
  );
  assertEquals(e.message.startsWith("Saved state of the i8042 controller is malformed"), true);
});
