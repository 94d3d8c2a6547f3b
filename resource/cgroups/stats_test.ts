import { assert, assertEquals } from "../../tests/assert.ts";
import { parseFlatKeyed, parseProcCgroup, readProcessMetrics, readV1, readV2 } from "./stats.ts";

Deno.test("cgroups: /proc/<pid>/cgroup parses v1 controllers and the v2 entry", () => {
  const m = parseProcCgroup("12:pids:/default/c1\n4:cpu,cpuacct:/default/c1\n0::/x\n");
  assertEquals(m.get("pids"), "/default/c1");
  assertEquals(m.get("cpu"), "/default/c1");
  assertEquals(m.get("cpuacct"), "/default/c1");
  assertEquals(m.get(""), "/x");
});

Deno.test("cgroups: v1 metrics from a fake hierarchy in a temp dir", () => {
  const root = Deno.makeTempDirSync();
  try {
    const w = (p: string, t: string) => {
      Deno.mkdirSync(p.slice(0, p.lastIndexOf("/")), { recursive: true });
      Deno.writeTextFileSync(p, t);
    };
    w(`${root}/pids/c/pids.current`, "3\n");
    w(`${root}/pids/c/pids.max`, "max\n");
    w(`${root}/cpuacct/c/cpuacct.usage`, "5000\n");
    w(`${root}/cpuacct/c/cpuacct.stat`, "user 2\nsystem 1\n");
    w(`${root}/cpuacct/c/cpuacct.usage_percpu`, "3000 2000 \n");
    w(`${root}/memory/c/memory.usage_in_bytes`, "4096\n");
    w(`${root}/memory/c/memory.stat`, "cache 10\nrss 20\ntotal_rss 30\n");
    const m = readV1(
      new Map([["pids", "/c"], ["cpuacct", "/c"], ["cpu", "/c"], ["memory", "/c"]]),
      root,
    ) as Record<string, Record<string, unknown>>;
    assertEquals(m.pids, { current: 3n, limit: 0n });
    const usage = m.cpu.usage as Record<string, unknown>;
    assertEquals(usage.total, 5000n);
    assertEquals(usage.user, 20_000_000n);
    assertEquals(usage.kernel, 10_000_000n);
    assertEquals(usage.perCpu, [3000n, 2000n]);
    assertEquals(m.memory.rss, 20n);
    assertEquals(m.memory.totalRss, 30n);
    assertEquals((m.memory.usage as Record<string, unknown>).usage, 4096n);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("cgroups: v2 metrics from a fake unified dir", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/cpu.stat`, "usage_usec 77\nuser_usec 50\nsystem_usec 27\n");
    Deno.writeTextFileSync(`${dir}/memory.stat`, "anon 100\nfile 200\n");
    Deno.writeTextFileSync(`${dir}/memory.current`, "300\n");
    Deno.writeTextFileSync(`${dir}/pids.current`, "2\n");
    const m = readV2(dir) as Record<string, Record<string, unknown>>;
    assertEquals(m.cpu.usageUsec, 77n);
    assertEquals(m.memory.anon, 100n);
    assertEquals(m.memory.usage, 300n);
    assertEquals(m.pids.current, 2n);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("cgroups: this test process's own metrics can be read", () => {
  const m = readProcessMetrics(Deno.pid);
  assert(m.version === 1 || m.version === 2);
  assert(Object.keys(m.metrics).length > 0);
  assertEquals(parseFlatKeyed("a 1\nb x\n").get("a"), 1n);
});
