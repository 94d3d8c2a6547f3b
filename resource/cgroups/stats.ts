/**
 * Reads a process's cgroup statistics from the host (cgroup v1 controllers
 * or the cgroup v2 unified hierarchy) into the shape of containerd's
 * `io.containerd.cgroups.v1.Metrics` / `v2.Metrics` messages (camelCase
 * fields, bigint counters), which is what the Task service's Stats returns.
 * @module
 */
import { NotFoundError } from "../../common/errors.ts";
import { type V1MemoryEntry, v1MemoryMetrics } from "./v1_metrics.ts";

/** Metrics of one cgroup, tagged with the cgroup version they follow. */
interface CgroupMetrics {
  version: 1 | 2;
  metrics: Record<string, unknown>;
}

/** Where the cgroup file systems are mounted (tests point it elsewhere). */
interface CgroupRoots {
  /** The cgroup v1 mount root holding one directory per controller. */
  v1: string;
  /** The cgroup v2 mount (unified hierarchy). */
  v2: string;
}

const DEFAULT_ROOTS: CgroupRoots = { v1: "/sys/fs/cgroup", v2: "/sys/fs/cgroup" };

/** Parses /proc/<pid>/cgroup into controller → path ("" is the v2 entry). */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, , controllers, path] = m;
    if (controllers === "") out.set("", path);
    for (const c of controllers.split(",")) if (c) out.set(c, path);
  }
  return out;
}

/** Parses "key value" lines (memory.stat, cpu.stat, ...). */
export function parseFlatKeyed(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of text.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out.set(k, BigInt(v));
  }
  return out;
}

function readText(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

function readNumber(path: string): bigint {
  const t = readText(path)?.trim();
  if (!t || t === "max") return 0n;
  return /^\d+$/.test(t) ? BigInt(t) : 0n;
}

/** Reads the metrics of the cgroup `pid` belongs to; v2 only when the pid has no v1 controllers. */
export function readProcessMetrics(pid: number, roots: CgroupRoots = DEFAULT_ROOTS): CgroupMetrics {
  const text = readText(`/proc/${pid}/cgroup`);
  if (text === undefined) {
    throw new NotFoundError(`Cannot read the cgroups of pid ${pid}: no such process`);
  }
  const paths = parseProcCgroup(text);
  if (paths.has("memory") || paths.has("cpuacct") || paths.has("pids")) {
    return { version: 1, metrics: readV1(paths, roots.v1) };
  }
  const unified = paths.get("");
  if (unified === undefined) throw new NotFoundError(`Pid ${pid} is in no cgroup`);
  return { version: 2, metrics: readV2(`${roots.v2}${unified}`) };
}

/** cgroup v1 metrics from per-controller directories. */
export function readV1(paths: Map<string, string>, root: string): Record<string, unknown> {
  const dir = (c: string) => `${root}/${c}${paths.get(c) ?? "/"}`;
  const metrics: Record<string, unknown> = {};
  if (paths.has("pids")) {
    metrics.pids = {
      current: readNumber(`${dir("pids")}/pids.current`),
      limit: readNumber(`${dir("pids")}/pids.max`),
    };
  }
  if (paths.has("cpuacct") || paths.has("cpu")) {
    const acct = dir("cpuacct");
    const stat = parseFlatKeyed(readText(`${acct}/cpuacct.stat`) ?? "");
    const perCpu = (readText(`${acct}/cpuacct.usage_percpu`) ?? "").trim().split(/\s+/)
      .filter((s) => /^\d+$/.test(s)).map((s) => BigInt(s));
    // cpuacct.stat is in USER_HZ ticks (100 per second); containerd reports nanoseconds.
    const tick = 10_000_000n;
    const throttle = parseFlatKeyed(readText(`${dir("cpu")}/cpu.stat`) ?? "");
    metrics.cpu = {
      usage: {
        total: readNumber(`${acct}/cpuacct.usage`),
        kernel: (stat.get("system") ?? 0n) * tick,
        user: (stat.get("user") ?? 0n) * tick,
        perCpu,
      },
      throttling: {
        periods: throttle.get("nr_periods") ?? 0n,
        throttledPeriods: throttle.get("nr_throttled") ?? 0n,
        throttledTime: throttle.get("throttled_time") ?? 0n,
      },
    };
  }
  if (paths.has("memory")) {
    const m = dir("memory");
    const s = parseFlatKeyed(readText(`${m}/memory.stat`) ?? "");
    const g = (k: string) => s.get(k) ?? 0n;
    const entry = (prefix: string): V1MemoryEntry => ({
      usage: readNumber(`${m}/${prefix}.usage_in_bytes`),
      limit: readNumber(`${m}/${prefix}.limit_in_bytes`),
      max: readNumber(`${m}/${prefix}.max_usage_in_bytes`),
      failcnt: readNumber(`${m}/${prefix}.failcnt`),
    });
    metrics.memory = v1MemoryMetrics({
      cache: g("cache"),
      stat: g,
      usage: entry("memory"),
      swap: entry("memory.memsw"),
      kernel: entry("memory.kmem"),
      kernelTcp: entry("memory.kmem.tcp"),
    });
  }
  return metrics;
}

/** cgroup v2 metrics from one unified directory. */
export function readV2(dir: string): Record<string, unknown> {
  const cpu = parseFlatKeyed(readText(`${dir}/cpu.stat`) ?? "");
  const mem = parseFlatKeyed(readText(`${dir}/memory.stat`) ?? "");
  const g = (k: string) => mem.get(k) ?? 0n;
  return {
    pids: { current: readNumber(`${dir}/pids.current`), limit: readNumber(`${dir}/pids.max`) },
    cpu: {
      usageUsec: cpu.get("usage_usec") ?? 0n,
      userUsec: cpu.get("user_usec") ?? 0n,
      systemUsec: cpu.get("system_usec") ?? 0n,
      nrPeriods: cpu.get("nr_periods") ?? 0n,
      nrThrottled: cpu.get("nr_throttled") ?? 0n,
      throttledUsec: cpu.get("throttled_usec") ?? 0n,
    },
    memory: {
      anon: g("anon"),
      file: g("file"),
      kernelStack: g("kernel_stack"),
      slab: g("slab"),
      sock: g("sock"),
      shmem: g("shmem"),
      fileMapped: g("file_mapped"),
      fileDirty: g("file_dirty"),
      fileWriteback: g("file_writeback"),
      anonThp: g("anon_thp"),
      inactiveAnon: g("inactive_anon"),
      activeAnon: g("active_anon"),
      inactiveFile: g("inactive_file"),
      activeFile: g("active_file"),
      unevictable: g("unevictable"),
      slabReclaimable: g("slab_reclaimable"),
      slabUnreclaimable: g("slab_unreclaimable"),
      pgfault: g("pgfault"),
      pgmajfault: g("pgmajfault"),
      workingsetRefault: g("workingset_refault"),
      workingsetActivate: g("workingset_activate"),
      workingsetNodereclaim: g("workingset_nodereclaim"),
      pgrefill: g("pgrefill"),
      pgscan: g("pgscan"),
      pgsteal: g("pgsteal"),
      pgactivate: g("pgactivate"),
      pgdeactivate: g("pgdeactivate"),
      pglazyfree: g("pglazyfree"),
      pglazyfreed: g("pglazyfreed"),
      thpFaultAlloc: g("thp_fault_alloc"),
      thpCollapseAlloc: g("thp_collapse_alloc"),
      usage: readNumber(`${dir}/memory.current`),
      usageLimit: readNumber(`${dir}/memory.max`),
      swapUsage: readNumber(`${dir}/memory.swap.current`),
      swapLimit: readNumber(`${dir}/memory.swap.max`),
    },
  };
}
