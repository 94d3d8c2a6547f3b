import { assertEquals } from "../../tests/assert.ts";
import { v1MemoryMetrics } from "./v1_metrics.ts";

Deno.test("cgroups v1 memory: memory.stat keys fill containerd's MemoryStat fields", () => {
  const stat = new Map([["rss", 1n], ["total_rss", 2n], ["hierarchical_memsw_limit", 3n]]);
  const e = (n: bigint) => ({ usage: n, limit: n + 1n, max: n + 2n, failcnt: n + 3n });
  const m = v1MemoryMetrics({
    cache: 9n,
    stat: (k) => stat.get(k) ?? 0n,
    usage: e(10n),
    swap: e(20n),
    kernel: e(30n),
    kernelTcp: e(40n),
  });
  assertEquals(m.cache, 9n);
  assertEquals(m.rss, 1n);
  assertEquals(m.totalRss, 2n);
  assertEquals(m.hierarchicalSwapLimit, 3n);
  assertEquals(m.pgMajFault, 0n);
  assertEquals(m.totalUnevictable, 0n);
  assertEquals(m.swap, e(20n));
  assertEquals(m.kernelTcp, e(40n));
  // cache, 31 memory.stat counters and 4 entries.
  assertEquals(Object.keys(m).length, 36);
});
