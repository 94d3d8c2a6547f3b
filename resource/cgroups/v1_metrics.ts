/**
 * The shape of containerd's `io.containerd.cgroups.v1.MemoryStat` (camelCase
 * fields, bigint counters), filled from cgroup v1 `memory.stat` keys. Both
 * the host's cgroups (linux_container) and the agent's guest stats
 * (virt_container) report v1 memory this way.
 * @module
 */

/** One memory counter group of containerd's v1 metrics (`MemoryEntry`). */
export interface V1MemoryEntry {
  usage: bigint;
  limit: bigint;
  max: bigint;
  failcnt: bigint;
}

/** containerd's v1 MemoryStat counters and the `memory.stat` key each comes from (but `cache`). */
const MEMORY_STAT_KEYS = {
  rss: "rss",
  rssHuge: "rss_huge",
  mappedFile: "mapped_file",
  dirty: "dirty",
  writeback: "writeback",
  pgPgIn: "pgpgin",
  pgPgOut: "pgpgout",
  pgFault: "pgfault",
  pgMajFault: "pgmajfault",
  inactiveAnon: "inactive_anon",
  activeAnon: "active_anon",
  inactiveFile: "inactive_file",
  activeFile: "active_file",
  unevictable: "unevictable",
  hierarchicalMemoryLimit: "hierarchical_memory_limit",
  hierarchicalSwapLimit: "hierarchical_memsw_limit",
  totalCache: "total_cache",
  totalRss: "total_rss",
  totalRssHuge: "total_rss_huge",
  totalMappedFile: "total_mapped_file",
  totalDirty: "total_dirty",
  totalWriteback: "total_writeback",
  totalPgPgIn: "total_pgpgin",
  totalPgPgOut: "total_pgpgout",
  totalPgFault: "total_pgfault",
  totalPgMajFault: "total_pgmajfault",
  totalInactiveAnon: "total_inactive_anon",
  totalActiveAnon: "total_active_anon",
  totalInactiveFile: "total_inactive_file",
  totalActiveFile: "total_active_file",
  totalUnevictable: "total_unevictable",
} as const;

/** What a v1 memory reading is made of. */
interface V1MemorySource {
  /** The page cache (the agent reports it apart from its `memory.stat` map). */
  cache: bigint;
  /** A `memory.stat` counter by key, 0 when absent. */
  stat: (key: string) => bigint;
  usage: V1MemoryEntry;
  swap: V1MemoryEntry;
  kernel: V1MemoryEntry;
  kernelTcp: V1MemoryEntry;
}

/** containerd's v1 `MemoryStat` from a v1 memory reading. */
export function v1MemoryMetrics(src: V1MemorySource): Record<string, unknown> {
  const out: Record<string, unknown> = { cache: src.cache };
  for (const [field, key] of Object.entries(MEMORY_STAT_KEYS)) out[field] = src.stat(key);
  out.usage = src.usage;
  out.swap = src.swap;
  out.kernel = src.kernel;
  out.kernelTcp = src.kernelTcp;
  return out;
}
