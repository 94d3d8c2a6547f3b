import { assertEquals } from "../../../tests/assert.ts";
import { GuestMemory } from "../memory.ts";
import { PD_ADDR, PDPT_ADDR, PML4_ADDR } from "../layout.ts";
import {
  GDT_64,
  longModeRegs,
  longModeSregs,
  pvhSregs,
  segmentFromDescriptor,
  writeGdt,
  writeIdentityPageTables,
} from "./cpu_state.ts";
import { decodeSregs } from "../../../ffi/kvm.ts";

Deno.test("identity page tables map the first 4 GiB with 2 MiB pages", () => {
  const mem = GuestMemory.fromBuffers([[0, 1024 * 1024]]);
  writeIdentityPageTables(mem);
  assertEquals(mem.u64(PML4_ADDR), PDPT_ADDR | 3);
  assertEquals(mem.u64(PDPT_ADDR), PD_ADDR | 3);
  assertEquals(mem.u64(PDPT_ADDR + 3 * 8), (PD_ADDR + 0x3000) | 3);
  assertEquals(mem.u64(PD_ADDR), 0x83);
  assertEquals(mem.u64(PD_ADDR + 8), 0x200000 | 0x83);
  assertEquals(mem.u64n(PD_ADDR + 0x3000 + 511 * 8), 0xffe00000n | 0x83n);
});

Deno.test("GDT descriptors decode into flat 64-bit code and data segments", () => {
  const code = segmentFromDescriptor(1, GDT_64[1]);
  assertEquals(code, {
    base: 0n,
    limit: 0xffffffff,
    selector: 8,
    type: 0xb,
    present: 1,
    dpl: 0,
    db: 0,
    s: 1,
    l: 1,
    g: 1,
    avl: 0,
    unusable: 0,
  });
  const data = segmentFromDescriptor(2, GDT_64[2]);
  assertEquals([data.selector, data.type, data.db, data.l, data.s], [0x10, 3, 1, 0, 1]);
  const tss = segmentFromDescriptor(3, GDT_64[3]);
  assertEquals([tss.selector, tss.type, tss.s, tss.present], [0x18, 0xb, 0, 1]);
  const mem = GuestMemory.fromBuffers([[0, 4096]]);
  writeGdt(mem, GDT_64);
  assertEquals(mem.u64n(0x508), GDT_64[1]);
});

Deno.test("64-bit entry state: long mode with paging, RSI at the zero page", () => {
  const s = longModeSregs(decodeSregs(new Uint8Array(312)));
  assertEquals(s.cr0 & 0x80000001n, 0x80000001n);
  assertEquals(s.cr3, BigInt(PML4_ADDR));
  assertEquals(s.cr4 & 0x20n, 0x20n);
  assertEquals(s.efer & 0x500n, 0x500n);
  assertEquals(s.cs.l, 1);
  assertEquals(s.gdt.limit, 31);
  const r = longModeRegs(0x1000000, 0x7000);
  assertEquals([r.rip, r.rsi, r.rflags], [0x1000000n, 0x7000n, 2n]);
});

Deno.test("PVH entry state: protected mode, paging off, 32-bit code segment", () => {
  const s = pvhSregs(decodeSregs(new Uint8Array(312)));
  assertEquals(s.cr0 & 0x80000001n, 1n);
  assertEquals(s.efer, 0n);
  assertEquals([s.cs.db, s.cs.l], [1, 0]);
});
