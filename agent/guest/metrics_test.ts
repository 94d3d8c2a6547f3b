import { assertEquals } from "../../tests/assert.ts";
import { formatMetrics, formatSystemMetrics } from "./metrics.ts";

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

Deno.test("guest CPU time, NIC and disk counters use upstream's family names", () => {
  const text = formatSystemMetrics(
    "cpu  100 0 50 1000 0 0 0 0 0 0\ncpu0 100 0 50 1000 0 0 0 0 0 0\nintr 5\n",
    "Inter-|\n face |\n  eth0: 10 1 0 0 0 0 0 0 20 2 0 0 0 0 0 0\n",
    "   8       0 vda 5 0 40 3 6 0 48 2 0 9 5\n   7       0 loop0 1 0 1 1 1 0 1 1 0 1 1\n",
  );
  const samples = text.split("\n").filter((l) => l && !l.startsWith("#"));
  assertEquals(samples.includes('kata_guest_cpu_time{cpu="cpu0",item="user"} 1'), true);
  assertEquals(
    samples.includes('kata_guest_netdev_stat{interface="eth0",item="sent_bytes"} 20'),
    true,
  );
  assertEquals(samples.includes('kata_guest_diskstat{disk="vda",item="writes"} 6'), true);
  assertEquals(samples.some((l) => l.includes("loop0")), false);
  assertEquals(text.match(/^# TYPE /gm)?.length, 3);
});
