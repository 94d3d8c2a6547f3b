import { assertEquals, assertThrows } from "../../../../tests/assert.ts";
import { InvalidArgumentError } from "../../../../common/errors.ts";
import { AcpiSleep } from "./sleep.ts";

Deno.test("ACPI sleep register: only SLP_EN with the S5 type powers off", () => {
  let offs = 0;
  const dev = new AcpiSleep(() => offs++);
  dev.write(0, Uint8Array.of(5 << 2)); // type without SLP_EN
  dev.write(0, Uint8Array.of((3 << 2) | 0x20)); // S3: not supported, ignored
  dev.write(1, Uint8Array.of(0xff)); // status register
  assertEquals(offs, 0);
  dev.write(0, Uint8Array.of((5 << 2) | 0x20));
  assertEquals(offs, 1);
  const b = Uint8Array.of(9);
  dev.read(1, b);
  assertEquals(b[0], 0);
});

Deno.test("ACPI sleep register: its saved state is empty and only an empty one is taken", () => {
  const dev = new AcpiSleep(() => {});
  const saved = dev.saveState();
  assertEquals(saved, {});
  new AcpiSleep(() => {}).restoreState(JSON.parse(JSON.stringify(saved)));
  assertThrows(() => dev.restoreState({ slp: 1 }), InvalidArgumentError, "ACPI sleep control");
});
