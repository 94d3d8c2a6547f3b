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

const CPU_FIELDS = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"];
const NETDEV_FIELDS = ["recv_bytes", "recv_packets", "recv_errs", "recv_drop"];
const NETDEV_SENT = ["sent_bytes", "sent_packets", "sent_errs", "sent_drop"];
const DISK_FIELDS: [number, string][] = [
  [3, "reads"],
  [5, "read_sectors"],
  [7, "writes"],
  [9, "write_sectors"],
  [11, "io_in_progress"],
];

/**
 * The guest's CPU time (`kata_guest_cpu_time`, seconds per CPU and mode, from
 * /proc/stat at USER_HZ 100), NIC counters (`kata_guest_netdev_stat`, from
 * /proc/net/dev) and block device counters (`kata_guest_diskstat`, from
 * /proc/diskstats), upstream's family names.
 */
export function formatSystemMetrics(stat: string, netdev: string, diskstats: string): string {
  const out: string[] = [];
  const cpu: string[] = [];
  for (const line of stat.split("\n")) {
    const m = /^(cpu\d*)\s+(.*)$/.exec(line);
    if (!m) continue;
    m[2].trim().split(/\s+/).slice(0, CPU_FIELDS.length).forEach((v, i) => {
      if (/^\d+$/.test(v)) {
        cpu.push(`kata_guest_cpu_time{cpu="${m[1]}",item="${CPU_FIELDS[i]}"} ${Number(v) / 100}`);
      }
    });
  }
  if (cpu.length) {
    out.push("# HELP kata_guest_cpu_time Guest CPU time in seconds, per CPU and mode.");
    out.push("# TYPE kata_guest_cpu_time gauge", ...cpu);
  }
  const net: string[] = [];
  for (const line of netdev.split("\n").slice(2)) {
    const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (!m || !/^[\w.-]+$/.test(m[1])) continue;
    const v = m[2].trim().split(/\s+/);
    NETDEV_FIELDS.forEach((f, i) =>
      /^\d+$/.test(v[i] ?? "") &&
      net.push(`kata_guest_netdev_stat{interface="${m[1]}",item="${f}"} ${v[i]}`)
    );
    NETDEV_SENT.forEach((f, i) =>
      /^\d+$/.test(v[8 + i] ?? "") &&
      net.push(`kata_guest_netdev_stat{interface="${m[1]}",item="${f}"} ${v[8 + i]}`)
    );
  }
  if (net.length) {
    out.push("# HELP kata_guest_netdev_stat Guest network device counters.");
    out.push("# TYPE kata_guest_netdev_stat gauge", ...net);
  }
  const disk: string[] = [];
  for (const line of diskstats.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 12 || !/^[\w.-]+$/.test(f[2]) || /^(loop|ram)\d/.test(f[2])) continue;
    for (const [i, item] of DISK_FIELDS) {
      if (/^\d+$/.test(f[i])) {
        disk.push(`kata_guest_diskstat{disk="${f[2]}",item="${item}"} ${f[i]}`);
      }
    }
  }
  if (disk.length) {
    out.push("# HELP kata_guest_diskstat Guest block device counters.");
    out.push("# TYPE kata_guest_diskstat gauge", ...disk);
  }
  return out.length ? out.join("\n") + "\n" : "";
}

/** Reads the inputs of {@link formatMetrics} and {@link formatSystemMetrics} from this system. */
export async function readMetrics(): Promise<string> {
  const read = (p: string) => Deno.readTextFile(p).catch(() => "");
  return formatMetrics(
    await read("/proc/loadavg"),
    await read("/proc/meminfo"),
    Deno.memoryUsage().rss,
  ) + formatSystemMetrics(
    await read("/proc/stat"),
    await read("/proc/net/dev"),
    await read("/proc/diskstats"),
  );
}
