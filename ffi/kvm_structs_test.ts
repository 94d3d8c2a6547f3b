import { assertEquals } from "../tests/assert.ts";
import {
  decodeCpuid,
  decodeRegs,
  decodeSregs,
  emptyRegs,
  encodeCpuid,
  encodeFpu,
  encodeIrqfd,
  encodeMemoryRegion,
  encodeMsrs,
  encodePitConfig,
  encodeRegs,
  encodeSregs,
} from "./kvm_structs.ts";

Deno.test("kvm_userspace_memory_region layout", () => {
  const b = encodeMemoryRegion({
    slot: 1,
    flags: 2,
    guestPhysAddr: 0x1_0000_0000n,
    size: 0x4000n,
    userspaceAddr: 0x7f00_0000_0000n,
  });
  const v = new DataView(b.buffer);
  assertEquals(b.length, 32);
  assertEquals([v.getUint32(0, true), v.getUint32(4, true)], [1, 2]);
  assertEquals(v.getBigUint64(8, true), 0x1_0000_0000n);
  assertEquals(v.getBigUint64(16, true), 0x4000n);
  assertEquals(v.getBigUint64(24, true), 0x7f00_0000_0000n);
});

Deno.test("kvm_regs round trip with rip at 128 and rflags at 136", () => {
  const r = emptyRegs();
  r.rip = 0x1000000n;
  r.rsi = 0x7000n;
  r.r15 = 0xffff_ffff_ffff_ffffn;
  const b = encodeRegs(r);
  assertEquals(b.length, 144);
  const v = new DataView(b.buffer);
  assertEquals(v.getBigUint64(128, true), 0x1000000n);
  assertEquals(v.getBigUint64(136, true), 2n);
  assertEquals(v.getBigUint64(32, true), 0x7000n);
  assertEquals(decodeRegs(b), r);
});

Deno.test("kvm_sregs round trip keeps segments, tables and control registers", () => {
  const raw = new Uint8Array(312);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 7) & 0xff;
  raw.fill(0, 23, 24); // padding bytes are not kept
  for (let s = 0; s < 8; s++) raw[s * 24 + 23] = 0;
  for (const off of [202, 203, 204, 205, 206, 207, 218, 219, 220, 221, 222, 223]) raw[off] = 0;
  const s = decodeSregs(raw);
  assertEquals(encodeSregs(s), raw);
  assertEquals(s.cs.selector, new DataView(raw.buffer).getUint16(12, true));
  assertEquals(s.efer, new DataView(raw.buffer).getBigUint64(264, true));
});

Deno.test("kvm_cpuid2 and kvm_msrs layouts", () => {
  const e = { function: 0x40000000, index: 0, flags: 1, eax: 1, ebx: 2, ecx: 3, edx: 4 };
  const b = encodeCpuid([e], 4);
  assertEquals(b.length, 8 + 4 * 40);
  assertEquals(new DataView(b.buffer).getUint32(0, true), 4);
  assertEquals(decodeCpuid(b)[0], e);
  const m = encodeMsrs([{ index: 0xc0000082, data: 0x1234n }]);
  const v = new DataView(m.buffer);
  assertEquals([m.length, v.getUint32(0, true), v.getUint32(8, true)], [24, 1, 0xc0000082]);
  assertEquals(v.getBigUint64(16, true), 0x1234n);
});

Deno.test("kvm_irqfd and kvm_pit_config layouts", () => {
  const f = new DataView(encodeIrqfd(17, 5, true).buffer);
  assertEquals([f.byteLength, f.getUint32(0, true), f.getUint32(4, true), f.getUint32(8, true)], [
    32,
    17,
    5,
    1,
  ]);
  const p = new DataView(encodePitConfig().buffer);
  assertEquals([p.byteLength, p.getUint32(0, true)], [64, 1]);
});

Deno.test("kvm_fpu keeps the x87 control word at 128 and MXCSR at 408", () => {
  const v = new DataView(encodeFpu(0x37f, 0x1f80).buffer);
  assertEquals([v.byteLength, v.getUint16(128, true), v.getUint32(408, true)], [
    416,
    0x37f,
    0x1f80,
  ]);
});
