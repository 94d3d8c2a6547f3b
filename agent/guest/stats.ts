/**
 * Container statistics: runc's `events --stats` data and the guest's
 * interface counters converted to the agent's StatsContainerResponse.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import {
  type NetworkStats,
  NetworkStatsSchema,
  type StatsContainerResponse,
  StatsContainerResponseSchema,
} from "../gen/agent_pb.ts";

type Json = Record<string, unknown>;

const MAX_U64 = (1n << 64n) - 1n;

/** A counter as uint64: negatives and non-numbers are 0, anything larger is clamped. */
const big = (v: unknown): bigint => {
  const b = typeof v === "bigint"
    ? v
    : typeof v === "number" && v >= 0
    ? BigInt(Math.trunc(v))
    : 0n;
  return b < 0n ? 0n : b > MAX_U64 ? MAX_U64 : b;
};

/**
 * Parses runc's JSON keeping integers above 2^53 exact (as bigint): runc
 * reports an unlimited cgroup's limit as 2^64-1, which a plain JSON.parse
 * rounds to 2^64, a value no uint64 field can carry.
 */
export function parseRuncJson(text: string): Json {
  return JSON.parse(text, (_key, value, context?: { source?: string }) => {
    if (typeof value === "number" && !Number.isSafeInteger(value) && context?.source) {
      if (/^-?\d+$/.test(context.source)) return BigInt(context.source);
    }
    return value;
  });
}
const obj = (v: unknown): Json => (v && typeof v === "object" ? v as Json : {});

function memoryData(v: unknown) {
  const m = obj(v);
  return {
    usage: big(m.usage),
    maxUsage: big(m.max),
    failcnt: big(m.failcnt),
    limit: big(m.limit),
  };
}

/** StatsContainerResponse from runc's stats `data` and network counters. */
export function statsFromRunc(data: Json, network: NetworkStats[]): StatsContainerResponse {
  const cpu = obj(data.cpu);
  const usage = obj(cpu.usage);
  const throttling = obj(cpu.throttling);
  const memory = obj(data.memory);
  const pids = obj(data.pids);
  const raw = obj(memory.raw);
  return create(StatsContainerResponseSchema, {
    cgroupStats: {
      cpuStats: {
        cpuUsage: {
          totalUsage: big(usage.total),
          percpuUsage: Array.isArray(usage.percpu) ? usage.percpu.map(big) : [],
          usageInKernelmode: big(usage.kernel),
          usageInUsermode: big(usage.user),
        },
        throttlingData: {
          periods: big(throttling.periods),
          throttledPeriods: big(throttling.throttled_periods),
          throttledTime: big(throttling.throttled_time),
        },
      },
      memoryStats: {
        cache: big(memory.cache),
        usage: memoryData(memory.usage),
        swapUsage: memoryData(memory.swap),
        kernelUsage: memoryData(memory.kernel),
        useHierarchy: true,
        stats: Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, big(v)])),
      },
      pidsStats: { current: big(pids.current), limit: big(pids.limit) },
    },
    networkStats: network,
  });
}

/** Counters of every non-loopback interface from sysfs. */
export async function readNetworkStats(sysNet = "/sys/class/net"): Promise<NetworkStats[]> {
  const out: NetworkStats[] = [];
  for await (const e of Deno.readDir(sysNet)) {
    if (e.name === "lo") continue;
    const read = async (k: string) =>
      BigInt(
        parseInt(
          await Deno.readTextFile(`${sysNet}/${e.name}/statistics/${k}`).catch(() => "0"),
          10,
        ) ||
          0,
      );
    out.push(create(NetworkStatsSchema, {
      name: e.name,
      rxBytes: await read("rx_bytes"),
      rxPackets: await read("rx_packets"),
      rxErrors: await read("rx_errors"),
      rxDropped: await read("rx_dropped"),
      txBytes: await read("tx_bytes"),
      txPackets: await read("tx_packets"),
      txErrors: await read("tx_errors"),
      txDropped: await read("tx_dropped"),
    }));
  }
  return out;
}
