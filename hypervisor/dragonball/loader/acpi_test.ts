import { assert, assertEquals, assertStringIncludes } from "../../../tests/assert.ts";
import { buildAcpiTables, pkgLength } from "./acpi.ts";
import { testsNeeding } from "../../../tests/tier.ts";

/** test: these tests need more than the unit tier (ignored, saying why, where missing). */
const test = testsNeeding({ peers: ["iasl"] });

const BASE = 0xe0000;
const DEVICES = [{ addr: 0xd0000000, size: 0x1000, gsi: 5 }, {
  addr: 0xd0001000,
  size: 0x1000,
  gsi: 6,
}];

function tables(t: Uint8Array): Map<string, Uint8Array> {
  const v = new DataView(t.buffer, t.byteOffset);
  const out = new Map<string, Uint8Array>();
  const xsdt = Number(v.getBigUint64(24, true)) - BASE;
  const add = (off: number) => {
    const sig = new TextDecoder().decode(t.subarray(off, off + 4));
    out.set(sig, t.subarray(off, off + v.getUint32(off + 4, true)));
    return out.get(sig)!;
  };
  const x = add(xsdt);
  for (let i = 36; i < x.length; i += 8) {
    const table = add(Number(new DataView(x.buffer, x.byteOffset).getBigUint64(i, true)) - BASE);
    if (new TextDecoder().decode(table.subarray(0, 4)) === "FACP") {
      add(new DataView(table.buffer, table.byteOffset).getUint32(40, true) - BASE);
    }
  }
  return out;
}

const sum = (b: Uint8Array) => b.reduce((s, x) => (s + x) & 0xff, 0);

Deno.test("ACPI: RSDP and every table have valid checksums", () => {
  const t = buildAcpiTables(BASE, 2, DEVICES);
  assertEquals(new TextDecoder().decode(t.subarray(0, 8)), "RSD PTR ");
  assertEquals(sum(t.subarray(0, 20)), 0);
  assertEquals(sum(t.subarray(0, 36)), 0);
  const all = tables(t);
  assertEquals([...all.keys()].sort(), ["APIC", "DSDT", "FACP", "XSDT"]);
  for (const [sig, table] of all) assertEquals(sum(table), 0, `${sig} checksum`);
  const fadt = new DataView(all.get("FACP")!.buffer, all.get("FACP")!.byteOffset);
  assertEquals(all.get("FACP")!.length, 276);
  assert((fadt.getUint32(112, true) & (1 << 20)) !== 0, "hardware-reduced flag");
  const madt = all.get("APIC")!;
  assertEquals(madt.length, 36 + 8 + 2 * 8 + 12);
});

Deno.test("AML package lengths use the one- and multi-byte encodings", () => {
  assertEquals(pkgLength(10), [11]);
  assertEquals(pkgLength(62), [63]);
  assertEquals(pkgLength(63), [0x41, 0x04]); // 65 = 0x41: low nibble 1, next byte 4
  assertEquals(pkgLength(5000), [0x80 | (5003 & 0xf), (5003 >> 4) & 0xff, 5003 >> 12]);
});

test("ACPI DSDT disassembles (iasl) to COM1 and LNRO0005 devices with their windows and IRQs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/dsdt.dat`, tables(buildAcpiTables(BASE, 2, DEVICES)).get("DSDT")!);
    const out = await new Deno.Command("iasl", {
      args: ["-d", `${dir}/dsdt.dat`],
      stdout: "null",
      stderr: "null",
    })
      .output();
    assert(out.success, "iasl failed to disassemble the DSDT");
    const dsl = await Deno.readTextFile(`${dir}/dsdt.dsl`);
    assertStringIncludes(dsl, 'Name (_HID, "LNRO0005")');
    assertStringIncludes(dsl, "0xD0001000,");
    assertStringIncludes(dsl, "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )");
    assertStringIncludes(dsl, "0x00000006,");
    assertStringIncludes(dsl, 'EisaId ("PNP0501")');
    assertStringIncludes(dsl, "IO (Decode16,");
    assertStringIncludes(dsl, "IRQNoFlags ()");
    assertStringIncludes(dsl, "Name (_S5, Package (0x01)");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
