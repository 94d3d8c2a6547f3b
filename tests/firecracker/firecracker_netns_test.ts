/**
 * Firecracker with the network resource (a cross-module test): against the
 * FAKE Firecracker (tests/firecracker/fake_fc.ts), a veth made by a hook
 * after start is found by the rescan and configured at boot.
 */
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { FailedPreconditionError } from "../../common/errors.ts";
import { NetworkResource } from "../../resource/network/network_resource.ts";
import { FirecrackerApi } from "../../hypervisor/firecracker/api.ts";
import { Firecracker } from "../../hypervisor/firecracker/firecracker.ts";
import { firecrackerOptionsFromConfig } from "../../hypervisor/firecracker/options.ts";
import { setup, sh, withLog } from "./fake_fc.ts";
import { testsNeeding } from "../tier.ts";

const test = testsNeeding({ root: true, peers: ["ip"] });

test("fake firecracker in a pod netns: a veth made by a hook after start is found by the rescan and configured at boot", async () => {
  // The rescan is the network resource's real netns scan (resource/network/):
  // it finds the veth the "createRuntime hook" made, plumbs tap0_kata with
  // tc redirects in the pod netns, and hands the NIC over before boot.
  const t = await setup();
  const ns = `rtts-fc-${Math.floor(Math.random() * 1e9)}`;
  await sh("ip", "netns", "add", ns);
  const netnsPath = `/run/netns/${ns}`;
  const fc = new Firecracker(firecrackerOptionsFromConfig(t.section, t.dir));
  const net = new NetworkResource(netnsPath, { model: "tcfilter", queues: 1 });
  try {
    await withLog(t.requestLog, () => fc.prepareVm({ id: "sb7", netnsPath }));
    await fc.startVm(1000);
    // Nothing in the netns yet (the CNI hook has not run): the first scan finds nothing.
    assertEquals(await net.attach(fc), []);
    // "createRuntime hook": the CNI veth appears only now, after start.
    await sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "veth-host");
    await sh("ip", "-n", ns, "addr", "add", "10.88.0.2/24", "dev", "eth0");
    await sh("ip", "-n", ns, "link", "set", "eth0", "up");
    const mac = JSON.parse(await sh("ip", "-j", "-n", ns, "link", "show", "eth0"))[0].address;
    // The rescan: Firecracker cannot hotplug, so the endpoint is plumbed and queued.
    assertEquals(await net.attach(fc), []);
    assertEquals(net.queuedCount(), 1);
    const before = await t.requests();
    assert(!before.some((r) => r.path.startsWith("/network-interfaces")), "NIC sent before boot");
    // Boot: the resource hands its queued NIC over, the driver sends it, then InstanceStart.
    await net.flushQueued(fc);
    await fc.bootVm();
    const order = (await t.requests()).slice(before.length).map((r) =>
      `${r.method} ${r.path} ${r.status}`
    );
    assertEquals(order, ["PUT /network-interfaces/tap0_kata 204", "PUT /actions 204"]);
    const cfg = await new FirecrackerApi(`${t.dir}/sb7/run/fc.sock`).request(
      "GET",
      "/vm/config",
    ) as {
      "network-interfaces": { iface_id: string; host_dev_name: string; guest_mac: string }[];
    };
    // The tap lives only in the pod netns, so the PUT succeeded only because the VMM joined it.
    assertEquals(cfg["network-interfaces"].map((n) => [n.host_dev_name, n.guest_mac]), [[
      "tap0_kata",
      mac,
    ]]);
    assertEquals(fc.saveState().netns, netnsPath);
    // A link that appears after boot is refused clearly, not dropped.
    await sh("ip", "-n", ns, "link", "add", "eth1", "type", "veth", "peer", "name", "veth-host1");
    await sh("ip", "-n", ns, "addr", "add", "10.89.0.2/24", "dev", "eth1");
    await assertRejects(() => net.attach(fc), FailedPreconditionError, "cannot hotplug NICs");
  } finally {
    await fc.stopVm();
    await net.detach(fc);
    await fc.cleanup();
    await sh("ip", "netns", "del", ns);
    await Deno.remove(t.dir, { recursive: true });
  }
});
