/**
 * Loader tests against Debian's real kernel (the same files the VM tests
 * boot): the vmlinux ELF and the bzImage, loaded into heap-backed memory.
 */
import { assert, assertEquals, assertThrows } from "../../../tests/assert.ts";
import { kernelAssets } from "../../../tests/vm/vmm_assets.ts";
import { GuestMemory } from "../memory.ts";
import { isElf, KernelImageError, loadElf } from "./elf.ts";
import { BZIMAGE_64BIT_ENTRY_OFFSET, isBzImage, loadBzImage } from "./bzimage.ts";
import { HIMEM_START } from "../layout.ts";

const MIB = 1024 * 1024;
const k = await kernelAssets();
const vmlinux = Deno.readFileSync(k.vmlinux);
const bzImage = Deno.readFileSync(k.bzImage);

Deno.test("vmlinux: segments land at their physical addresses with the PVH entry found", () => {
  const mem = GuestMemory.fromBuffers([[0, 128 * MIB]]);
  assert(isElf(vmlinux));
  const loaded = loadElf(mem, vmlinux);
  assertEquals(loaded.entry64, 0x1000000); // Debian's startup_64 physical address
  assert(
    loaded.pvhEntry !== undefined && loaded.pvhEntry > 0x1000000 && loaded.pvhEntry < loaded.end,
  );
  assert(loaded.end > 0x1000000);
  // The first segment's file bytes are at its paddr (offset 0x200000 in the file).
  assertEquals([...mem.read(0x1000000, 64)], [...vmlinux.subarray(0x200000, 0x200040)]);
});

Deno.test("vmlinux: a guest too small for the kernel is a clear error", () => {
  const mem = GuestMemory.fromBuffers([[0, 16 * MIB]]);
  assertThrows(() => loadElf(mem, vmlinux), KernelImageError, "does not fit");
});

Deno.test("vmlinux: truncated and foreign ELF files are rejected", () => {
  const mem = GuestMemory.fromBuffers([[0, 4 * MIB]]);
  assertThrows(() => loadElf(mem, vmlinux.slice(0, 40)), KernelImageError);
  const foreign = vmlinux.slice(0, 4096);
  foreign[18] = 0xb7; // e_machine = aarch64
  assertThrows(() => loadElf(mem, foreign), KernelImageError, "x86_64");
  const badPh = vmlinux.slice(0, 4096);
  new DataView(badPh.buffer).setBigUint64(32, 1n << 40n, true); // e_phoff far away
  assertThrows(() => loadElf(mem, badPh), KernelImageError, "outside the file");
});

Deno.test("bzImage: header checked, kernel at 1 MiB, 64-bit entry at +0x200", () => {
  const mem = GuestMemory.fromBuffers([[0, 128 * MIB]]);
  assert(isBzImage(bzImage));
  const loaded = loadBzImage(mem, bzImage);
  assertEquals(loaded.entry64, HIMEM_START + BZIMAGE_64BIT_ENTRY_OFFSET);
  assert(loaded.protocolVersion >= 0x20c);
  const setupSize = (bzImage[0x1f1] + 1) * 512;
  assertEquals([...mem.read(HIMEM_START, 32)], [...bzImage.subarray(setupSize, setupSize + 32)]);
  // The header copy starts at 0x1f1 and contains "HdrS" at 0x202.
  assertEquals(
    new TextDecoder().decode(loaded.setupHeader.subarray(0x202 - 0x1f1, 0x206 - 0x1f1)),
    "HdrS",
  );
  assert(loaded.end >= HIMEM_START + (bzImage.length - setupSize));
});

Deno.test("bzImage: old protocols, missing 64-bit entry and non-kernels are rejected", () => {
  const mem = GuestMemory.fromBuffers([[0, 64 * MIB]]);
  const old = bzImage.slice(0, 0x10000);
  new DataView(old.buffer).setUint16(0x206, 0x0206, true);
  assertThrows(() => loadBzImage(mem, old), KernelImageError, "too old");
  const no64 = bzImage.slice(0, 0x10000);
  new DataView(no64.buffer).setUint16(0x236, 0, true);
  assertThrows(() => loadBzImage(mem, no64), KernelImageError, "64-bit");
  assertThrows(() => loadBzImage(mem, new Uint8Array(4096)), KernelImageError, "HdrS");
});
