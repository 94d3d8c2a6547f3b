import { assertEquals } from "../../../../tests/assert.ts";
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
