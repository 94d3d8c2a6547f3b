import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { InvalidArgumentError } from "../../common/errors.ts";
import { formatMetrics } from "../../agent/guest/metrics.ts";
import { parseNetDev, parseStat } from "./proc_metrics.ts";
import { MetricsWriter, sanitizeExposition } from "./prometheus.ts";
import { collectSandboxMetrics, EventLoopLag } from "./sandbox_metrics.ts";
import { PROMTOOL, promtoolCheck } from "../../tests/promtool.ts";
import { needs } from "../../tests/tier.ts";

const MEMINFO =
  "MemTotal:        2000000 kB\nMemFree:         1000000 kB\nHugePages_Total:       0\n";

/** The /metrics text of a sandbox with a VMM, its counters and a guest sending some garbage. */
async function vmSandboxMetrics(): Promise<string> {
  const lag = new EventLoopLag(20);
  await new Promise((r) => setTimeout(r, 60));
  const text = await collectSandboxMetrics({
    sandboxId: "sb",
    hypervisorName: "qemu",
    vmmPids: () => [Deno.pid],
    vmmCounters: () => ({ io: 12, mmio: 3 }),
    guestMemoryBytes: () => 2048 << 20,
    guestMetrics: () =>
      Promise.resolve(
        formatMetrics("0.1 0.2 0.3 1/2 3", MEMINFO, 1234) +
          "garbage line\nkata_shim_threads 99\n# TYPE kata_guest_load gauge\nkata_guest_load 5\n",
      ),
    lag,
  });
  lag.stop();
  return text;
}

/** The /metrics text of a sandbox whose agent cannot be asked. */
function agentGoneMetrics(): Promise<string> {
  return collectSandboxMetrics({
    sandboxId: "sb",
    hypervisorName: "dragonball",
    vmmPids: () => [],
    guestMetrics: () => Promise.reject(new Error("Agent is gone")),
  });
}

/** The /metrics text of a sandbox without a VM or agent (the LinuxContainer runtime). */
function noVmMetrics(): Promise<string> {
  return collectSandboxMetrics({ sandboxId: "c1", hypervisorName: "", vmmPids: () => [] });
}

Deno.test("a sandbox's /metrics has shim, hypervisor and guest families", async () => {
  const text = await vmSandboxMetrics();
  const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
  assert(value(/^kata_shim_resident_memory_bytes (\S+)$/m) > 0, "shim RSS");
  assert(value(/^kata_shim_threads (\S+)$/m) >= 1, "shim threads");
  assert(value(/^kata_shim_fds (\S+)$/m) > 0, "shim fds");
  assert(/^kata_shim_event_loop_lag_seconds\{item="max"\} /m.test(text), "event-loop lag");
  assertEquals(value(/^kata_guest_meminfo\{item="MemTotal"\} (\S+)$/m), 2000000 * 1024);
  assertEquals(value(/^kata_hypervisor_vcpu_exits_total\{kind="io"\} (\S+)$/m), 12);
  assertEquals(value(/^kata_shim_agent_up (\S+)$/m), 1);
  // The guest cannot speak for the shim, repeat a family or send garbage.
  assertEquals(text.match(/^kata_shim_threads /gm)?.length, 1);
  assertEquals(text.match(/^# TYPE kata_guest_load /gm)?.length, 1);
  assert(!text.includes("garbage"));
});

Deno.test("an agent that cannot be asked leaves kata_shim_agent_up 0, the rest still served", async () => {
  const text = await agentGoneMetrics();
  assert(/^kata_shim_agent_up 0$/m.test(text));
  assert(/^kata_shim_proc_status\{item="vmrss"\} \d+$/m.test(text));
});

Deno.test("proc parsers read stat with spaces in the name and net/dev", () => {
  const s = parseStat("42 (a b) c) S 1 42 42 0 -1 4194560 100 0 2 0 250 50 0 0 20 0 7 0 1 999 10");
  assertEquals(s.utime, 2.5);
  assertEquals(s.stime, 0.5);
  assertEquals(s.num_threads, 7);
  const d = parseNetDev(
    "Inter-| Receive | Transmit\n face |bytes packets\n  eth0: 100 2 0 0 0 0 0 0 200 3 0 0 0 0 0 0\n",
  );
  assertEquals(d, [{
    name: "eth0",
    values: {
      recv_bytes: 100,
      recv_packets: 2,
      recv_errs: 0,
      recv_drop: 0,
      recv_fifo: 0,
      recv_frame: 0,
      recv_compressed: 0,
      recv_multicast: 0,
      sent_bytes: 200,
      sent_packets: 3,
      sent_errs: 0,
      sent_drop: 0,
      sent_fifo: 0,
      sent_colls: 0,
      sent_carrier: 0,
      sent_compressed: 0,
    },
  }]);
});

Deno.test("the writer escapes label values and refuses bad names; sanitize keeps families whole", () => {
  const w = new MetricsWriter();
  w.add("a_b", "Help.", "gauge", [{ labels: { item: 'x"y\\z\n' }, value: 1 }]);
  assertEquals(w.render(), '# HELP a_b Help.\n# TYPE a_b gauge\na_b{item="x\\"y\\\\z\\n"} 1\n');
  assertThrows(() => w.gauge("1bad", "x", 1), InvalidArgumentError, "Invalid metric name");
  const s = sanitizeExposition(
    '# TYPE kata_guest_a gauge\nkata_guest_a 1\nkata_guest_b 2\nkata_guest_a 3\nother 1\nkata_guest_c{x="1"} zz\n',
    ["kata_guest_"],
  );
  assertEquals(s.text, "# TYPE kata_guest_a gauge\nkata_guest_a 1\nkata_guest_b 2\n");
  assertEquals(s.dropped, 3);
});

Deno.test("a sandbox without a VM or agent gets only the shim's families", async () => {
  const text = await noVmMetrics();
  assert(!/^kata_hypervisor_/m.test(text) && !/^kata_shim_agent_up/m.test(text), text);
  assert(/^kata_shim_resident_memory_bytes \d+$/m.test(text));
});

Deno.test(
  "promtool accepts the /metrics of a VM sandbox, of one whose agent is gone and of one without a VM",
  needs({ peers: [PROMTOOL] }),
  async () => {
    for (
      const [what, text] of [
        ["VM sandbox", await vmSandboxMetrics()],
        ["agent gone", await agentGoneMetrics()],
        ["no VM", await noVmMetrics()],
      ]
    ) {
      const checked = await promtoolCheck(text);
      assert(checked.ok, `promtool check metrics (${what}): ${checked.out}`);
    }
  },
);
