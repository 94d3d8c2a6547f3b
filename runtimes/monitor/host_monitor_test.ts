import { assert, assertEquals } from "../../tests/assert.ts";
import { monitorRequest } from "./client.ts";
import { startHostMonitor } from "./host_monitor.ts";

Deno.test("a sandbox without a VM serves shim metrics, 404 for the agent URL, 501 for volumes", async () => {
  const dir = await Deno.makeTempDir();
  const srv = startHostMonitor(dir, "c1")!;
  try {
    const m = await monitorRequest(srv.path, "GET", "/metrics");
    assertEquals(m.status, 200);
    assert(/^kata_shim_threads \d+$/m.test(m.body));
    const u = await monitorRequest(srv.path, "GET", "/agent-url");
    assertEquals(u.status, 404);
    assert(u.body.includes("no agent"));
    assertEquals(
      (await monitorRequest(srv.path, "GET", "/direct-volume/stats?path=/x")).status,
      501,
    );
  } finally {
    await srv.close();
  }
  assertEquals([...Deno.readDirSync(dir)].length, 0);
  await Deno.remove(dir);
});
