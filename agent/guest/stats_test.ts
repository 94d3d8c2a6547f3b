import { assertEquals } from "../../tests/assert.ts";
import { statsFromRunc } from "./stats.ts";

Deno.test("runc stats map to cgroup stats", () => {
  const s = statsFromRunc({
    cpu: {
      usage: { total: 100, percpu: [60, 40], kernel: 30, user: 70 },
      throttling: { periods: 2 },
    },
    memory: { cache: 5, usage: { usage: 4096, max: 8192, limit: 65536 }, raw: { anon: 1024 } },
    pids: { current: 3, limit: 10 },
  }, []);
  const cg = s.cgroupStats!;
  assertEquals(cg.cpuStats?.cpuUsage?.totalUsage, 100n);
  assertEquals(cg.cpuStats?.cpuUsage?.percpuUsage, [60n, 40n]);
  assertEquals(cg.cpuStats?.throttlingData?.periods, 2n);
  assertEquals(cg.memoryStats?.usage?.maxUsage, 8192n);
  assertEquals(cg.memoryStats?.stats, { anon: 1024n });
  assertEquals([cg.pidsStats?.current, cg.pidsStats?.limit], [3n, 10n]);
});

Deno.test("missing runc sections read as zero", () => {
  const cg = statsFromRunc({}, []).cgroupStats!;
  assertEquals(cg.cpuStats?.cpuUsage?.totalUsage, 0n);
  assertEquals(cg.memoryStats?.usage?.usage, 0n);
});
