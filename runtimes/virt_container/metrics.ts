/**
 * The agent's `StatsContainerResponse` (guest cgroup statistics) in the
 * shape of containerd's `io.containerd.cgroups.v1.Metrics` (camelCase
 * fields, bigint counters), which the Task service's Stats returns — the
 * mapping Kata's shims make.
 * @module
 */
import type { StatsContainerResponse } from "../../agent/gen/agent_pb.ts";
import { type V1MemoryEntry, v1MemoryMetrics } from "../../resource/cgroups/v1_metrics.ts";
import type { ContainerStats } from "../handler.ts";

type Entry = { major: bigint; minor: bigint; op: string; value: bigint };

function blkio(list: readonly Entry[] | undefined) {
  return (list ?? []).map((e) => ({
    op: e.op,
    device: "",
    major: e.major,
    minor: e.minor,
    value: e.value,
  }));
}

/** Converts the agent's stats to containerd's cgroup v1 metrics. */
export function agentStatsToMetrics(s: StatsContainerResponse): ContainerStats {
  const cg = s.cgroupStats;
  const metrics: Record<string, unknown> = {};
  if (cg?.pidsStats) {
    metrics.pids = { current: cg.pidsStats.current, limit: cg.pidsStats.limit };
  }
  if (cg?.cpuStats) {
    const u = cg.cpuStats.cpuUsage;
    const t = cg.cpuStats.throttlingData;
    metrics.cpu = {
      usage: {
        total: u?.totalUsage ?? 0n,
        kernel: u?.usageInKernelmode ?? 0n,
        user: u?.usageInUsermode ?? 0n,
        perCpu: [...(u?.percpuUsage ?? [])],
      },
      throttling: {
        periods: t?.periods ?? 0n,
        throttledPeriods: t?.throttledPeriods ?? 0n,
        throttledTime: t?.throttledTime ?? 0n,
      },
    };
  }
  if (cg?.memoryStats) {
    const m = cg.memoryStats;
    const g = (k: string) => m.stats[k] ?? 0n;
    const entry = (d: typeof m.usage): V1MemoryEntry => ({
      usage: d?.usage ?? 0n,
      max: d?.maxUsage ?? 0n,
      failcnt: d?.failcnt ?? 0n,
      limit: d?.limit ?? 0n,
    });
    metrics.memory = v1MemoryMetrics({
      cache: m.cache,
      stat: g,
      usage: entry(m.usage),
      swap: entry(m.swapUsage),
      kernel: entry(m.kernelUsage),
      kernelTcp: entry(undefined),
    });
  }
  if (cg?.blkioStats) {
    const b = cg.blkioStats;
    metrics.blkio = {
      ioServiceBytesRecursive: blkio(b.ioServiceBytesRecursive),
      ioServicedRecursive: blkio(b.ioServicedRecursive),
      ioQueuedRecursive: blkio(b.ioQueuedRecursive),
      ioServiceTimeRecursive: blkio(b.ioServiceTimeRecursive),
      ioWaitTimeRecursive: blkio(b.ioWaitTimeRecursive),
      ioMergedRecursive: blkio(b.ioMergedRecursive),
      ioTimeRecursive: blkio(b.ioTimeRecursive),
      sectorsRecursive: blkio(b.sectorsRecursive),
    };
  }
  const huge = Object.entries(cg?.hugetlbStats ?? {});
  if (huge.length > 0) {
    metrics.hugetlb = huge.map(([pagesize, h]) => ({
      usage: h.usage,
      max: h.maxUsage,
      failcnt: h.failcnt,
      pagesize,
    }));
  }
  if (s.networkStats.length > 0) {
    metrics.network = s.networkStats.map((n) => ({
      name: n.name,
      rxBytes: n.rxBytes,
      rxPackets: n.rxPackets,
      rxErrors: n.rxErrors,
      rxDropped: n.rxDropped,
      txBytes: n.txBytes,
      txPackets: n.txPackets,
      txErrors: n.txErrors,
      txDropped: n.txDropped,
    }));
  }
  return { version: 1, metrics };
}
