import { assertEquals } from "../../tests/assert.ts";
import { toBinary } from "@bufbuild/protobuf";
import { StatsContainerResponseSchema } from "../gen/agent_pb.ts";
import { parseRuncJson, statsFromRunc } from "./stats.ts";

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

Deno.test("an unlimited cgroup's limit (2^64-1 from runc) encodes as uint64, exactly", () => {
  // runc's text for a cgroup without a memory limit; JSON.parse alone rounds it to 2^64.
  const data = parseRuncJson(
    '{"memory":{"usage":{"usage":4096,"limit":18446744073709551615},"swap":{"limit":9223372036854771712}}}',
  );
  const s = statsFromRunc(data, []);
  assertEquals(s.cgroupStats?.memoryStats?.usage?.limit, 18446744073709551615n);
  assertEquals(s.cgroupStats?.memoryStats?.usage?.usage, 4096n);
  assertEquals(s.cgroupStats?.memoryStats?.swapUsage?.limit, 9223372036854771712n);
  // The whole response serialises (the agent's StatsContainer failed here before).
  assertEquals(toBinary(StatsContainerResponseSchema, s).length > 0, true);
  // A value past uint64 (not from runc) is clamped, never an encoding error.
  const over = statsFromRunc({ pids: { limit: 2 ** 65 } }, []);
  assertEquals(over.cgroupStats?.pidsStats?.limit, 18446744073709551615n);
});
