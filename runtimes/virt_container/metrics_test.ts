import { create } from "@bufbuild/protobuf";
import { assertEquals } from "../../tests/assert.ts";
import { StatsContainerResponseSchema } from "../../agent/gen/agent_pb.ts";
import { agentStatsToMetrics } from "./metrics.ts";

Deno.test("agent stats become containerd cgroup v1 metrics", () => {
  const s = create(StatsContainerResponseSchema, {
    cgroupStats: {
      cpuStats: {
        cpuUsage: {
          totalUsage: 100n,
          percpuUsage: [60n, 40n],
          usageInKernelmode: 30n,
          usageInUsermode: 70n,
        },
        throttlingData: { periods: 5n, throttledPeriods: 1n, throttledTime: 9n },
      },
      memoryStats: {
        cache: 11n,
        usage: { usage: 1000n, maxUsage: 2000n, failcnt: 0n, limit: 4096n },
        stats: { rss: 500n, total_rss: 600n },
      },
      pidsStats: { current: 3n, limit: 100n },
      blkioStats: { ioServiceBytesRecursive: [{ major: 8n, minor: 0n, op: "Read", value: 4096n }] },
      hugetlbStats: { "2MB": { usage: 1n, maxUsage: 2n, failcnt: 0n } },
    },
    networkStats: [{ name: "eth0", rxBytes: 10n, txBytes: 20n }],
  });
  const { version, metrics } = agentStatsToMetrics(s);
  assertEquals(version, 1);
  const m = metrics as Record<string, Record<string, unknown>>;
  assertEquals(m.pids, { current: 3n, limit: 100n });
  assertEquals(m.cpu.usage, { total: 100n, kernel: 30n, user: 70n, perCpu: [60n, 40n] });
  assertEquals(m.cpu.throttling, { periods: 5n, throttledPeriods: 1n, throttledTime: 9n });
  assertEquals(m.memory.cache, 11n);
  assertEquals(m.memory.rss, 500n);
  assertEquals(m.memory.totalRss, 600n);
  assertEquals(m.memory.usage, { usage: 1000n, max: 2000n, failcnt: 0n, limit: 4096n });
  assertEquals((m.blkio.ioServiceBytesRecursive as unknown[])[0], {
    op: "Read",
    device: "",
    major: 8n,
    minor: 0n,
    value: 4096n,
  });
  assertEquals(metrics.hugetlb, [{ usage: 1n, max: 2n, failcnt: 0n, pagesize: "2MB" }]);
  assertEquals((metrics.network as { name: string; rxBytes: bigint }[])[0].rxBytes, 10n);
});

Deno.test("empty agent stats give empty metrics", () => {
  assertEquals(agentStatsToMetrics(create(StatsContainerResponseSchema)), {
    version: 1,
    metrics: {},
  });
});
