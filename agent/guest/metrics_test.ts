import { assertEquals } from "../../tests/assert.ts";
import { formatMetrics } from "./metrics.ts";

Deno.test("load and meminfo become Prometheus gauges", () => {
  const text = formatMetrics(
    "0.10 0.20 0.30 1/80 123\n",
    "MemTotal:        1000 kB\nMemFree:          500 kB\nActive(anon):      1 kB\nHugePages_Total:       0\n",
    4096,
  );
  const samples = text.split("\n").filter((l) => l && !l.startsWith("#"));
  assertEquals(samples, [
    'kata_guest_load{item="load1"} 0.10',
    'kata_guest_load{item="load5"} 0.20',
    'kata_guest_load{item="load15"} 0.30',
    'kata_guest_meminfo{item="MemTotal"} 1024000',
    'kata_guest_meminfo{item="MemFree"} 512000',
    'kata_guest_meminfo{item="Active_anon_"} 1024',
    'kata_guest_meminfo{item="HugePages_Total"} 0',
    "kata_agent_process_resident_memory_bytes 4096",
  ]);
});
