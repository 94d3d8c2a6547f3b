import { assert, assertEquals } from "../../tests/assert.ts";
import { monitorRequest } from "../monitor/client.ts";
import { monitorService } from "./sandbox_services.ts";
import type { VirtSandbox } from "./sandbox.ts";

Deno.test("the management socket lives in the sandbox dir while the service runs and asks the agent for guest metrics", async () => {
  const root = await Deno.makeTempDir();
  await Deno.mkdir(`${root}/sb1`);
  let asked = 0;
  const sb = {
    id: "sb1",
    parts: {
      store: { dirOf: (id: string) => `${root}/${id}` },
      hypervisor: {
        pids: () => [Deno.pid],
        agentSocket: () => ({ kind: "hvsock", path: `${root}/sb1/kata.hvsock`, port: 1024 }),
        vmmCounters: () => ({ io: 3 }),
      },
    },
    agent: {
      getMetrics: () => {
        asked++;
        return Promise.resolve({
          metrics: '# TYPE kata_guest_meminfo gauge\nkata_guest_meminfo{item="MemTotal"} 1024\n',
        });
      },
    },
  };
  const svc = monitorService({ hypervisorName: "dragonball", memoryMib: 512 });
  await svc.start(sb as unknown as VirtSandbox);
  const path = `${root}/sb1/shim-monitor.sock`;
  try {
    const m = await monitorRequest(path, "GET", "/metrics");
    assertEquals(m.status, 200);
    assert(m.body.includes('kata_guest_meminfo{item="MemTotal"} 1024'));
    assert(m.body.includes('kata_hypervisor_vcpu_exits_total{kind="io"} 3'));
    assert(m.body.includes("kata_hypervisor_guest_memory_bytes 536870912"));
    assertEquals(asked, 1);
    assertEquals(
      (await monitorRequest(path, "GET", "/agent-url")).body.trim(),
      `hvsock://${root}/sb1/kata.hvsock:1024`,
    );
    // Not registered with direct-volume add: 404.
    Deno.env.set("KATA_DIRECT_VOLUME_ROOT", `${root}/dv`);
    assertEquals(
      (await monitorRequest(path, "GET", "/direct-volume/stats?path=/nope")).status,
      404,
    );
  } finally {
    Deno.env.delete("KATA_DIRECT_VOLUME_ROOT");
    await svc.stop();
  }
  assertEquals(
    [...Deno.readDirSync(`${root}/sb1`)].length,
    0,
    "the socket is removed with the service",
  );
  await Deno.remove(root, { recursive: true });
});
