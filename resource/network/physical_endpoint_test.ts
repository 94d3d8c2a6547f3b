import { assertEquals, assertRejects, assertThrows } from "../../tests/assert.ts";
import { UnimplementedError } from "../../common/errors.ts";
import { createEndpoint } from "./create_endpoint.ts";
import { scannedVeth } from "./links_testing.ts";

Deno.test("a PCI link becomes a physical endpoint that refuses to plumb naming the link and address", async () => {
  const ep = createEndpoint(
    "",
    scannedVeth({ type: "device", busInfo: "0000:06:02.5" }),
    "tcfilter",
    1,
  );
  assertEquals([ep.kind, ep.name, ep.guestMac], ["physical", "eth0", "f6:02:33:a0:61:df"]);
  const e = assertThrows(() => ep.plumb(), UnimplementedError);
  assertEquals(
    e.message,
    'Link "eth0" is a physical PCI device (0000:06:02.5): VFIO passthrough is not supported yet',
  );
  const sink = {
    capabilities: () => ({ netHotplug: true }),
    state: () => "running" as const,
    addDevice: () => Promise.reject(new Error("must not be reached")),
    removeDevice: () => Promise.resolve(),
  };
  await assertRejects(() => ep.attach(sink), UnimplementedError, "VFIO passthrough");
  assertEquals(ep.agentInterface().name, "eth0", "the agent data is still available");
});
