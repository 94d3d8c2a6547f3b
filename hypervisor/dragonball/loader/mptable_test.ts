import { InvalidArgumentError } from "../../../common/errors.ts";
import { assertEquals, assertThrows } from "../../../tests/assert.ts";
import { buildMpTable } from "./mptable.ts";

function sum(b: Uint8Array): number {
  return b.reduce((s, x) => (s + x) & 0xff, 0);
}

Deno.test("MP table: valid checksums and one processor entry per vCPU", () => {
  const addr = 0x9fc00;
  const t = buildMpTable(addr, 2);
  const v = new DataView(t.buffer);
  assertEquals(new TextDecoder().decode(t.subarray(0, 4)), "_MP_");
  assertEquals(sum(t.subarray(0, 16)), 0);
  assertEquals(v.getUint32(4, true), addr + 16);
  const len = v.getUint16(16 + 4, true);
  assertEquals(new TextDecoder().decode(t.subarray(16, 20)), "PCMP");
  assertEquals(sum(t.subarray(16, 16 + len)), 0);
  assertEquals(16 + len, t.length);
  // Entries: CPU 0 (boot processor), CPU 1, then bus, IOAPIC, 24 IRQs, 2 local.
  const first = 16 + 44;
  assertEquals([t[first], t[first + 1], t[first + 3]], [0, 0, 3]);
  assertEquals([t[first + 20], t[first + 21], t[first + 23]], [0, 1, 1]);
  assertEquals(v.getUint16(16 + 34, true), 2 + 1 + 1 + 24 + 2);
  const ioapic = first + 40 + 8;
  assertEquals([t[ioapic], t[ioapic + 1]], [2, 2]); // IOAPIC id after the CPUs
});

Deno.test("MP table refuses impossible vCPU counts", () => {
  assertThrows(() => buildMpTable(0x9fc00, 0), InvalidArgumentError);
  assertThrows(() => buildMpTable(0x9fc00, 255), InvalidArgumentError);
});
