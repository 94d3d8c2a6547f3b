/**
 * The text of a sandbox's `/metrics`: the shim process (`kata_shim_*`, with
 * event-loop lag standing in for Go's goroutine counts), the hypervisor
 * (`kata_hypervisor_*`: the VMM process for external VMMs; for the built-in
 * VMM, which runs inside the shim, its exit counters and guest memory), the
 * guest through the agent's GetMetrics (`kata_guest_*`, `kata_agent_*`) and
 * the sandbox's network counters.
 * @module
 */
import { getLogger } from "../../common/log.ts";
import { addNetDevMetrics, addProcessMetrics } from "./proc_metrics.ts";
import { MetricsWriter, sanitizeExposition } from "./prometheus.ts";

const log = getLogger("runtimes.monitor");

/** What the collector reads of one sandbox. */
interface MetricsSources {
  sandboxId: string;
  /** The hypervisor's name (`qemu`, `dragonball`, ...); "" for a sandbox without a VM. */
  hypervisorName: string;
  /** Pids of the VMM processes (the shim's own pid for the built-in VMM). */
  vmmPids(): number[];
  /** Counters the built-in VMM keeps (vCPU exits by kind, queue notifications, ...), when in-process. */
  vmmCounters?(): Record<string, number>;
  /** Guest memory size in bytes, when known. */
  guestMemoryBytes?(): number | undefined;
  /** The agent's GetMetrics text; rejects when the agent cannot be asked. */
  guestMetrics?(): Promise<string>;
  /** Event-loop lag of this process. */
  lag?: EventLoopLag;
}

/**
 * Measures how late a periodic timer fires: the shim's event loop is its
 * only thread of control, so lag here delays every RPC.
 */
export class EventLoopLag {
  #timer: ReturnType<typeof setInterval>;
  #last = 0;
  #max = 0;
  #expected: number;

  constructor(readonly intervalMs = 500) {
    this.#expected = performance.now() + intervalMs;
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.#last = Math.max(0, now - this.#expected) / 1000;
      this.#max = Math.max(this.#max, this.#last);
      this.#expected = now + intervalMs;
    }, intervalMs);
    Deno.unrefTimer(this.#timer);
  }

  /** The last measured lag and the largest since the previous call, in seconds. */
  take(): { last: number; max: number } {
    const out = { last: this.#last, max: this.#max };
    this.#max = this.#last;
    return out;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/** Collects the whole `/metrics` text for one sandbox. */
export async function collectSandboxMetrics(src: MetricsSources): Promise<string> {
  const w = new MetricsWriter();
  addProcessMetrics(w, "kata_shim", "shim", "self");
  const mem = Deno.memoryUsage();
  w.add("kata_shim_heap_bytes", "V8 heap of the shim.", "gauge", [
    { labels: { item: "used" }, value: mem.heapUsed },
    { labels: { item: "total" }, value: mem.heapTotal },
    { labels: { item: "external" }, value: mem.external },
  ]);
  if (src.lag) {
    const l = src.lag.take();
    w.add(
      "kata_shim_event_loop_lag_seconds",
      "How late the shim's event loop ran a periodic timer (last and max since the previous scrape).",
      "gauge",
      [{ labels: { item: "last" }, value: l.last }, { labels: { item: "max" }, value: l.max }],
    );
  }
  addNetDevMetrics(
    w,
    "kata_shim_netdev",
    "Network counters of the shim's network namespace, from /proc/net/dev.",
    "self",
  );

  if (src.hypervisorName) addHypervisorMetrics(w, src);
  let agentUp = 0;
  if (src.guestMetrics) {
    try {
      const raw = await src.guestMetrics();
      const { text, dropped } = sanitizeExposition(raw, ["kata_guest_", "kata_agent_"], w.names());
      if (dropped > 0) {
        log.warn("sandbox {id}: dropped {n} malformed guest metric line(s)", {
          id: src.sandboxId,
          n: dropped,
        });
      }
      w.addText(text);
      agentUp = 1;
    } catch (e) {
      log.debug("sandbox {id}: GetMetrics: {e}", { id: src.sandboxId, e: String(e) });
    }
    w.gauge("kata_shim_agent_up", "Whether the agent answered GetMetrics in this scrape.", agentUp);
  }
  return w.render();
}

let scrapes = 0;

/** The `kata_hypervisor_*` families (a sandbox without a VM has none). */
function addHypervisorMetrics(w: MetricsWriter, src: MetricsSources): void {
  w.add("kata_hypervisor_scrapes_total", "Scrapes of hypervisor metrics.", "counter", [
    { value: ++scrapes },
  ]);
  const pids = src.vmmPids();
  const external = pids.filter((p) => p !== Deno.pid);
  w.add("kata_hypervisor_info", "The sandbox's hypervisor (value 1).", "gauge", [
    {
      labels: { hypervisor: src.hypervisorName, in_process: String(external.length === 0) },
      value: 1,
    },
  ]);
  for (const pid of external.slice(0, 1)) {
    addProcessMetrics(w, "kata_hypervisor", "VMM process", pid);
    addNetDevMetrics(
      w,
      "kata_hypervisor_netdev",
      "Network counters of the VMM's network namespace (the pod's taps), from /proc/net/dev.",
      pid,
    );
  }
  const counters = src.vmmCounters?.() ?? {};
  if (Object.keys(counters).length > 0) {
    w.add(
      "kata_hypervisor_vcpu_exits_total",
      "vCPU exits of the built-in VMM, by kind.",
      "counter",
      Object.entries(counters).map(([kind, value]) => ({ labels: { kind }, value })),
    );
  }
  const guestMem = src.guestMemoryBytes?.();
  if (guestMem !== undefined) {
    w.gauge("kata_hypervisor_guest_memory_bytes", "Memory given to the guest.", guestMem);
  }
}
