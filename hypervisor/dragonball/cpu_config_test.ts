import { assertEquals } from "../../tests/assert.ts";
import { bootMsrs, MSR, setLocalInterrupts, vcpuCpuid } from "./cpu_config.ts";

Deno.test("CPUID: APIC id, CPU count and hypervisor bit per vCPU", () => {
  const supported = [
    {
      function: 1,
      index: 0,
      flags: 0,
      eax: 0x806f8,
      ebx: 0xff0a0800,
      ecx: 0x7ed8320b,
      edx: 0x178bfbff,
    },
    { function: 0xb, index: 0, flags: 1, eax: 1, ebx: 1, ecx: 0x100, edx: 9 },
    { function: 0xd, index: 0, flags: 1, eax: 7, ebx: 0, ecx: 0, edx: 0 },
  ];
  const [leaf1, leafB, leafD] = vcpuCpuid(supported, 3, 4);
  assertEquals(leaf1.ebx >>> 24, 3);
  assertEquals((leaf1.ebx >>> 16) & 0xff, 4);
  assertEquals(leaf1.ebx & 0xffff, 0x0800);
  assertEquals(leaf1.ecx >>> 31, 1);
  assertEquals((leaf1.edx >>> 28) & 1, 1);
  assertEquals(leafB.edx, 3);
  assertEquals(leafD, supported[2]);
  assertEquals((vcpuCpuid(supported, 0, 1)[0].edx >>> 28) & 1, 0);
});

Deno.test("boot MSRs and LAPIC local interrupts", () => {
  const msrs = new Map(bootMsrs().map((m) => [m.index, m.data]));
  assertEquals(msrs.get(MSR.IA32_MISC_ENABLE), 1n);
  assertEquals(msrs.get(MSR.MTRR_DEF_TYPE), 0x806n);
  const page = new Uint8Array(1024);
  const v = new DataView(page.buffer);
  v.setUint32(0x350, 0x10700, true);
  setLocalInterrupts(page);
  assertEquals(v.getUint32(0x350, true), 0x10700);
  assertEquals(v.getUint32(0x360, true), 0x400);
});
