import { assert, assertEquals } from "../tests/assert.ts";
import { getAffinity, setAffinity, vcpuThreads } from "./affinity.ts";

Deno.test("a thread's affinity is read and restricted by tid, and restored", () => {
  const all = getAffinity();
  assert(all.length >= 1);
  const tid = Deno.pid; // the main thread's tid is the pid
  try {
    setAffinity(tid, [all[0]]);
    assertEquals(getAffinity(tid), [all[0]]);
  } finally {
    setAffinity(tid, all);
  }
  assertEquals(getAffinity(tid), all);
});

Deno.test("vcpuThreads finds threads named CPU <n>/KVM and nothing in a process without them", () => {
  assertEquals(vcpuThreads(Deno.pid).size, 0);
  assertEquals(vcpuThreads(0x7ffffff0).size, 0);
});
