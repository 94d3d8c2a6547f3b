/**
 * Per-process metrics read from /proc, in the shape of upstream's
 * `kata_shim_*` and `kata_hypervisor_*` families (`<prefix>_proc_status`,
 * `_proc_stat`, `_threads`, `_fds`, `_io_stat`, `_netdev`), plus the
 * plain resident/proportional memory and CPU seconds an operator graphs.
 * @module
 */
import type { MetricsWriter } from "./prometheus.ts";

/** Clock ticks per second of /proc/<pid>/stat times (Linux's USER_HZ is 100 everywhere we run). */
const USER_HZ = 100;

/** Fields of /proc/<pid>/stat after the command name (index 0 = state). */
export function parseStat(text: string): Record<string, number> {
  const close = text.lastIndexOf(")");
  const f = text.slice(close + 2).trim().split(/\s+/);
  const n = (i: number) => Number(f[i] ?? NaN);
  // Field numbers of proc(5) minus 3 (pid, comm and state come first).
  return {
    utime: n(11) / USER_HZ,
    stime: n(12) / USER_HZ,
    cutime: n(13) / USER_HZ,
    cstime: n(14) / USER_HZ,
    num_threads: n(17),
    vsize: n(20),
    minflt: n(7),
    majflt: n(9),
  };
}

/** `Name: value [kB]` lines of /proc/<pid>/status or smaps_rollup, in bytes where kB. */
function parseKbLines(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z_0-9]+):\s+(\d+)(\s+kB)?\s*$/.exec(line);
    if (m) out[m[1]] = Number(m[2]) * (m[3] ? 1024 : 1);
  }
  return out;
}

/** `key: value` lines of /proc/<pid>/io. */
function parseIo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^(\w+):\s+(\d+)$/.exec(line.trim());
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** One interface's counters from /proc/<pid>/net/dev. */
interface NetDev {
  name: string;
  values: Record<string, number>;
}

const NETDEV_FIELDS = [
  "recv_bytes",
  "recv_packets",
  "recv_errs",
  "recv_drop",
  "recv_fifo",
  "recv_frame",
  "recv_compressed",
  "recv_multicast",
  "sent_bytes",
  "sent_packets",
  "sent_errs",
  "sent_drop",
  "sent_fifo",
  "sent_colls",
  "sent_carrier",
  "sent_compressed",
];

/** Parses /proc/net/dev. */
export function parseNetDev(text: string): NetDev[] {
  const out: NetDev[] = [];
  for (const line of text.split("\n").slice(2)) {
    const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const nums = m[2].trim().split(/\s+/).map(Number);
    const values: Record<string, number> = {};
    NETDEV_FIELDS.forEach((f, i) => {
      if (Number.isFinite(nums[i])) values[f] = nums[i];
    });
    out.push({ name: m[1], values });
  }
  return out;
}

function readOr(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

function countFds(pid: number | "self"): number {
  let n = 0;
  try {
    for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) n++;
  } catch {
    return NaN;
  }
  return n;
}

const STATUS_ITEMS: Record<string, string> = {
  VmPeak: "vmpeak",
  VmSize: "vmsize",
  VmHWM: "vmhwm",
  VmRSS: "vmrss",
  RssAnon: "rssanon",
  RssFile: "rssfile",
  VmData: "vmdata",
  VmStk: "vmstk",
  VmSwap: "vmswap",
};

/**
 * Adds `<prefix>_proc_status`, `_proc_stat`, `_threads`, `_fds`, `_io_stat`,
 * `_resident_memory_bytes`, `_pss_bytes` and `_cpu_seconds_total` for `pid`.
 * Returns false (adding nothing) when the process is gone.
 */
export function addProcessMetrics(
  w: MetricsWriter,
  prefix: string,
  what: string,
  pid: number | "self",
): boolean {
  const statText = readOr(`/proc/${pid}/stat`);
  if (!statText) return false;
  const stat = parseStat(statText);
  const status = parseKbLines(readOr(`/proc/${pid}/status`));
  const rollup = parseKbLines(readOr(`/proc/${pid}/smaps_rollup`));
  const io = parseIo(readOr(`/proc/${pid}/io`));
  w.add(
    `${prefix}_proc_status`,
    `Memory of the ${what} from /proc/<pid>/status, in bytes.`,
    "gauge",
    Object.entries(STATUS_ITEMS).filter(([k]) => k in status).map(([k, item]) => ({
      labels: { item },
      value: status[k],
    })),
  );
  w.add(
    `${prefix}_proc_stat`,
    `CPU times (seconds) and page faults of the ${what} from /proc/<pid>/stat.`,
    "gauge",
    Object.entries(stat).filter(([k, v]) => k !== "num_threads" && Number.isFinite(v)).map((
      [item, value],
    ) => ({ labels: { item }, value })),
  );
  w.gauge(`${prefix}_threads`, `Threads of the ${what}.`, stat.num_threads);
  w.gauge(`${prefix}_fds`, `Open file descriptors of the ${what}.`, countFds(pid));
  if (Object.keys(io).length > 0) {
    w.add(
      `${prefix}_io_stat`,
      `I/O of the ${what} from /proc/<pid>/io.`,
      "gauge",
      Object.entries(io).map(([item, value]) => ({ labels: { item }, value })),
    );
  }
  w.gauge(
    `${prefix}_resident_memory_bytes`,
    `Resident set size of the ${what}.`,
    status.VmRSS ?? NaN,
  );
  if ("Pss" in rollup) {
    w.gauge(`${prefix}_pss_bytes`, `Proportional set size of the ${what}.`, rollup.Pss);
  }
  w.add(`${prefix}_cpu_seconds_total`, `User and system CPU time of the ${what}.`, "counter", [
    { value: Math.round((stat.utime + stat.stime) * 100) / 100 },
  ]);
  return true;
}

/** Adds `<name>{interface, item}` from /proc/<pid>/net/dev (the process's network namespace). */
export function addNetDevMetrics(
  w: MetricsWriter,
  name: string,
  help: string,
  pid: number | "self",
): void {
  const devs = parseNetDev(readOr(`/proc/${pid}/net/dev`)).filter((d) => d.name !== "lo");
  const samples = devs.flatMap((d) =>
    Object.entries(d.values).map(([item, value]) => ({
      labels: { interface: d.name, item },
      value,
    }))
  );
  if (samples.length > 0) w.add(name, help, "gauge", samples);
}
