/**
 * GetMetrics: the guest's load, memory and the agent's own memory in the
 * Prometheus text format (names follow kata-agent's `kata_guest_*` and
 * `kata_agent_*` families).
 * @module
 */

/** Prometheus text for /proc/loadavg, /proc/meminfo and the agent's RSS. */
export function formatMetrics(loadavg: string, meminfo: string, agentRssBytes: number): string {
  const out: string[] = [];
  const [l1, l5, l15] = loadavg.trim().split(/\s+/);
  out.push("# HELP kata_guest_load Guest system load.", "# TYPE kata_guest_load gauge");
  for (const [item, v] of [["load1", l1], ["load5", l5], ["load15", l15]]) {
    if (v !== undefined && !Number.isNaN(Number(v))) {
      out.push(`kata_guest_load{item="${item}"} ${v}`);
    }
  }
  out.push("# HELP kata_guest_meminfo Statistics about memory usage in the guest.");
  out.push("# TYPE kata_guest_meminfo gauge");
  for (const line of meminfo.split("\n")) {
    const m = line.match(/^([A-Za-z0-9_()]+):\s+(\d+)(?:\s+kB)?$/);
    if (!m) continue;
    const bytes = line.endsWith("kB") ? Number(m[2]) * 1024 : Number(m[2]);
    out.push(`kata_guest_meminfo{item="${m[1].replace(/[()]/g, "_")}"} ${bytes}`);
  }
  out.push("# HELP kata_agent_process_resident_memory_bytes Resident memory of the agent.");
  out.push("# TYPE kata_agent_process_resident_memory_bytes gauge");
  out.push(`kata_agent_process_resident_memory_bytes ${agentRssBytes}`);
  return out.join("\n") + "\n";
}

/** Reads the inputs of {@link formatMetrics} from this system. */
export async function readMetrics(): Promise<string> {
  const read = (p: string) => Deno.readTextFile(p).catch(() => "");
  return formatMetrics(
    await read("/proc/loadavg"),
    await read("/proc/meminfo"),
    Deno.memoryUsage().rss,
  );
}
