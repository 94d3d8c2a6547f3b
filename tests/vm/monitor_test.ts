/**
 * VM group, operating a sandbox: with a container running in a VM of the
 * built-in VMM (the shipped configuration-dragonball.toml plus the built
 * guest), the shim's management socket `/run/kata/<id>/shim-monitor.sock`
 * answers `GET /metrics` with text Debian's `promtool check metrics` accepts
 * (promtool comes with scripts/install-deps; without it the test fails), holding non-zero guest
 * memory (through the agent's GetMetrics) and shim RSS; `/agent-url` names the
 * hybrid vsock; malformed requests get 4xx and the shim stays up; the guest
 * agent's "container …: started" log line reaches the shim's log tagged with the
 * sandbox id; with `enable_vcpus_pinning` and 2 vCPUs on the test host's 2
 * CPUs each vCPU thread is pinned to its own CPU (Cpus_allowed_list); after
 * removal the socket is gone (leak check).
 *
 * Needs /dev/kvm: scripts/test-vm runs it inside scripts/testhost where this
 * machine has none.
 */
import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import { Containerd, IMAGE } from "../containerd/harness.ts";
import { monitorRequest } from "../../runtimes/monitor/client.ts";
import { promtoolCheck } from "../promtool.ts";
import { configWithBuiltGuest, SLOW_VM_CONTAINERD } from "./guest_config.ts";
import { killClients, tail, until, vmTest } from "./deadline.ts";
import { needs } from "../tier.ts";

const ID = "mon1";
const SOCKET = `/run/kata/${ID}/shim-monitor.sock`;

/** Threads named `CPU <n>/KVM` anywhere (only our shim's built-in VMM has them here) and their Cpus_allowed_list. */
async function vcpuThreadCpus(): Promise<{ thread: string; cpus: string }[]> {
  const out: { thread: string; cpus: string }[] = [];
  for await (const p of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(p.name)) continue;
    const tasks = await Array.fromAsync(Deno.readDir(`/proc/${p.name}/task`)).catch(() => []);
    for (const t of tasks) {
      const dir = `/proc/${p.name}/task/${t.name}`;
      const comm = (await Deno.readTextFile(`${dir}/comm`).catch(() => "")).trim();
      if (!/^CPU \d+\/KVM$/.test(comm)) continue;
      const status = await Deno.readTextFile(`${dir}/status`).catch(() => "");
      out.push({
        thread: `${p.name}/${t.name} ${comm}`,
        cpus: /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1] ?? "",
      });
    }
  }
  return out;
}

function metric(text: string, re: RegExp): number {
  const m = re.exec(text);
  return m ? Number(m[1]) : NaN;
}

vmTest({
  name:
    "a running VM sandbox serves shim-monitor.sock (metrics, agent URL) and forwards guest logs",
  ignore: needs({ paths: ["/dev/kvm"] }).ignore,
  deadlineMs: 480_000,
}, async (ctx) => {
  const cfgDir = await Deno.makeTempDir({ prefix: "rts-mon-cfg-" });
  ctx.step("containerd to start");
  const c = await Containerd.start(SLOW_VM_CONTAINERD);
  ctx.evidence("containerd log (with the shim's lines)", () => c.log());
  ctx.onDeadline(() => killClients("ctr", c.address));
  try {
    const config = await configWithBuiltGuest("dragonball", cfgDir, [
      'kernel_params = ""',
      "default_vcpus = 2",
    ]);
    // Agent requests under nested emulation take longer than the shipped 30 s (test drop-in
    // only); vCPU pinning on, to see the built-in VMM's vCPU threads pinned.
    await Deno.writeTextFile(
      `${cfgDir}/config.d/60-monitor.toml`,
      "[agent.kata]\nrequest_timeout_ms = 240000\n\n[runtime]\nenable_vcpus_pinning = true\n",
    );
    ctx.step(`\`ctr run -d ${ID}\` (VM boot, agent, container) to end`);
    const r = await c.ctr(
      "run",
      "-d",
      "--runtime",
      c.shim,
      "--runtime-config-path",
      config,
      IMAGE,
      ID,
      "sleep",
      "600",
    );
    assertEquals(r.code, 0, `ctr run -d failed: ${r.stdout}${r.stderr}`);

    ctx.step("GET /metrics on the management socket");
    const m = await monitorRequest(SOCKET, "GET", "/metrics");
    assertEquals(m.status, 200, m.body);
    const shimRss = metric(m.body, /^kata_shim_resident_memory_bytes (\S+)$/m);
    const guestMem = metric(m.body, /^kata_guest_meminfo\{item="MemTotal"\} (\S+)$/m);
    assert(shimRss > 0, `shim RSS in /metrics: ${shimRss}`);
    assert(guestMem > 0, `guest MemTotal in /metrics (GetMetrics): ${guestMem}`);
    assertEquals(metric(m.body, /^kata_shim_agent_up (\S+)$/m), 1);
    assert(
      metric(m.body, /^kata_hypervisor_vcpu_exits_total\{kind="[^"]+"\} (\S+)$/m) > 0,
      "built-in VMM exit counters",
    );
    const checked = await promtoolCheck(m.body);
    assert(checked.ok, `promtool check metrics: ${checked.out}`);

    ctx.step("GET /agent-url and malformed requests");
    const u = await monitorRequest(SOCKET, "GET", "/agent-url");
    assertMatch(u.body.trim(), new RegExp(`^hvsock:///run/kata/${ID}/.*:1024$`));
    for (
      const [method, target, body] of [
        ["GET", "/no-such-path", undefined],
        ["POST", "/direct-volume/resize", "{bad json"],
        ["POST", "/direct-volume/resize", "x".repeat(100_000)],
        ["GET", "/direct-volume/stats", undefined],
      ] as const
    ) {
      const b = await monitorRequest(SOCKET, method, target, body);
      assert(b.status >= 400 && b.status < 500, `${method} ${target}: ${b.status} ${b.body}`);
    }
    assertEquals((await monitorRequest(SOCKET, "GET", "/agent-url")).status, 200);
    const e = await c.ctr("task", "exec", "--exec-id", "e1", ID, "true");
    assertEquals(e.code, 0, `the sandbox still works after bad requests: ${e.stderr}`);

    ctx.step("the vCPU threads' pinning");
    const vcpus = await vcpuThreadCpus();
    assertEquals(vcpus.length, 2, `vCPU threads named CPU <n>/KVM: ${JSON.stringify(vcpus)}`);
    if (navigator.hardwareConcurrency === 2) {
      // Two vCPUs on two CPUs: one CPU each.
      assertEquals(vcpus.map((v) => v.cpus).sort(), ["0", "1"], JSON.stringify(vcpus));
    } else {
      assert(
        (await c.log()).includes("vCPUs not pinned"),
        "the log says why vCPUs were not pinned",
      );
    }

    ctx.step("the guest agent's container start line in the shim's log");
    const line = await until("the forwarded guest log line", async () => {
      const log = await c.log();
      // The shim's logfmt quotes values: the line carries the guest's text and sandbox="<id>".
      return log.split("\n").find((l) =>
        l.includes(`sandbox="${ID}"`) && l.includes("guest:") && l.includes(": started")
      );
    }, ctx.signal);
    assert(line.length > 0);

    ctx.step(`${ID} to stop after SIGKILL and be removed`);
    await c.ctrMust("task", "kill", "-s", "SIGKILL", ID);
    await until(
      "the task to stop",
      async () => {
        const listed = await c.ctrMust("task", "ls");
        return new RegExp(`${ID}\\s+\\d+\\s+STOPPED`).test(listed) ? true : undefined;
      },
      ctx.signal,
      100,
    );
    await c.ctrMust("task", "rm", ID);
    await c.ctrMust("container", "rm", ID);
    // The socket is removed with the sandbox.
    await assertRejects(() => Deno.lstat(SOCKET), Deno.errors.NotFound);
    await c.assertNoLeaks(ID);
  } catch (e) {
    console.error(tail(await c.log().catch((r) => String(r)), 12000));
    throw e;
  } finally {
    ctx.step("containerd's clean-up");
    await c.stop();
    await Deno.remove(cfgDir, { recursive: true });
  }
});
