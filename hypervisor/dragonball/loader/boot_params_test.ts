import { InvalidArgumentError } from "../../../common/errors.ts";
import { assertEquals, assertThrows } from "../../../tests/assert.ts";
import { GuestMemory } from "../memory.ts";
import { BP, buildBootParams, E820, e820Map, initrdAddress } from "./boot_params.ts";
import { buildPvhStartInfo } from "./pvh.ts";

const MIB = 1024 * 1024;

Deno.test("e820 map: base memory below the EBDA, then RAM from 1 MiB", () => {
  const mem = GuestMemory.fromBuffers([[0, 256 * MIB]]);
  assertEquals(e820Map(mem), [
    { addr: 0, size: 0x9fc00, type: E820.RAM },
    { addr: 0x9fc00, size: 0x100000 - 0x9fc00, type: E820.RESERVED },
    { addr: 0x100000, size: 256 * MIB - 0x100000, type: E820.RAM },
  ]);
});

Deno.test("e820 map: RAM above 4 GiB appears as its own range", () => {
  const mem = GuestMemory.fromBuffers([[0, 2 * MIB], [0x1_0000_0000, MIB]]);
  assertEquals(e820Map(mem)[3], { addr: 0x1_0000_0000, size: MIB, type: E820.RAM });
});

Deno.test("zero page carries loader id, command line, initrd and e820 table", () => {
  const e820 = [{ addr: 0, size: 0x9fc00, type: 1 }, { addr: 0x100000, size: 0xff00000, type: 1 }];
  const zp = buildBootParams({
    cmdlineAddr: 0x20000,
    cmdlineSize: 42,
    initrd: { addr: 0x0f000000, size: 0x123456 },
    e820,
  });
  const v = new DataView(zp.buffer);
  assertEquals(zp.length, 4096);
  assertEquals(v.getUint16(BP.BOOT_FLAG, true), 0xaa55);
  assertEquals(v.getUint32(BP.HEADER, true), 0x53726448);
  assertEquals(zp[BP.TYPE_OF_LOADER], 0xff);
  assertEquals(v.getUint32(BP.CMD_LINE_PTR, true), 0x20000);
  assertEquals(v.getUint32(BP.CMDLINE_SIZE, true), 42);
  assertEquals(v.getUint32(BP.RAMDISK_IMAGE, true), 0x0f000000);
  assertEquals(v.getUint32(BP.RAMDISK_SIZE, true), 0x123456);
  assertEquals(v.getUint32(BP.KERNEL_ALIGNMENT, true), 0x01000000); // no header given
  assertEquals(zp[BP.E820_ENTRIES], 2);
  assertEquals(v.getBigUint64(BP.E820_TABLE + 20, true), 0x100000n);
  assertEquals(v.getBigUint64(BP.E820_TABLE + 28, true), 0xff00000n);
  assertEquals(v.getUint32(BP.E820_TABLE + 36, true), 1);
});

Deno.test("zero page keeps the kernel's own setup header fields", () => {
  const hdr = new Uint8Array(0x202 + 0x6a - 0x1f1);
  hdr[0] = 30; // setup_sects
  hdr[0x211 - 0x1f1] = 0x01; // loadflags
  const zp = buildBootParams({ setupHeader: hdr, cmdlineAddr: 0x20000, cmdlineSize: 1, e820: [] });
  assertEquals(zp[0x1f1], 30);
  assertEquals(zp[BP.LOADFLAGS], 0x01);
  assertEquals(zp[BP.TYPE_OF_LOADER], 0xff); // overridden after the copy
});

Deno.test("zero page refuses more e820 entries than it holds", () => {
  const e820 = Array.from({ length: 129 }, (_, i) => ({ addr: i * 4096, size: 4096, type: 1 }));
  assertThrows(
    () => buildBootParams({ cmdlineAddr: 0, cmdlineSize: 0, e820 }),
    InvalidArgumentError,
  );
});

Deno.test("initrd goes page-aligned to the top of low memory, above the kernel", () => {
  const mem = GuestMemory.fromBuffers([[0, 64 * MIB]]);
  assertEquals(initrdAddress(mem, 5000, 32 * MIB), 64 * MIB - 8192);
  assertEquals(initrdAddress(mem, 4096, 0, 32 * MIB - 1), 32 * MIB - 4096);
  assertThrows(() => initrdAddress(mem, 40 * MIB, 32 * MIB), InvalidArgumentError, "does not fit");
});

Deno.test("PVH start info: magic, version 1, module and memory map", () => {
  const { startInfo, modlist, memmap } = buildPvhStartInfo({
    cmdlineAddr: 0x20000,
    memmapAddr: 0x6080,
    modlistAddr: 0x6040,
    initrd: { addr: 0x800000, size: 1234 },
    e820: [{ addr: 0, size: 0x9fc00, type: 1 }],
  });
  const s = new DataView(startInfo.buffer);
  assertEquals(s.getUint32(0, true), 0x336ec578);
  assertEquals(s.getUint32(4, true), 1);
  assertEquals(s.getUint32(12, true), 1);
  assertEquals(s.getBigUint64(16, true), 0x6040n);
  assertEquals(s.getBigUint64(24, true), 0x20000n);
  assertEquals(s.getBigUint64(40, true), 0x6080n);
  assertEquals(s.getUint32(48, true), 1);
  assertEquals(new DataView(modlist.buffer).getBigUint64(8, true), 1234n);
  assertEquals(memmap.length, 24);
  assertEquals(new DataView(memmap.buffer).getBigUint64(8, true), 0x9fc00n);
});
