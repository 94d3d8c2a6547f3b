/**
 * The network resource against a pod namespace made by the CNI bridge plugin:
 * `shim-ctl net scan|attach|detach`, frames through the tap (tcfilter), the
 * macvtap (macvtap model) and a plain tap (none), and nothing left behind.
 * Traffic goes only to the bridge gateway inside the test's own namespaces.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { closeTapFds, openTap, readFrame, writeFrame } from "../../ffi/tun.ts";
import { recordPath } from "../../resource/network/record.ts";
import { NetworkResource } from "../../resource/network/network_resource.ts";
import type { NetworkDeviceSink } from "../../resource/network/endpoint.ts";
import type { NetworkDevice } from "../../hypervisor/device.ts";
import type { VmState } from "../../hypervisor/hypervisor.ts";
import { cniBridgePod, type CniPod, run, shimCtlNet } from "./helpers.ts";
import {
  arpReply,
  arpRequest,
  icmpEcho,
  parseArpReply,
  parseArpRequest,
  parseEchoReply,
  waitFrame,
} from "./frames.ts";
import { testsNeeding } from "../tier.ts";

const test = testsNeeding({ root: true, peers: ["ip"] });

const fdCount = () => [...Deno.readDirSync("/proc/self/fd")].length;

/** Runs `fn` on a fresh CNI pod; always tears the pod down and checks nothing leaked. */
async function withPod(fn: (pod: CniPod, recordDir: string) => Promise<void>) {
  const recordDir = await Deno.makeTempDir({ prefix: "rts-net-rec-" });
  const fds = fdCount();
  const pod = await cniBridgePod();
  try {
    await fn(pod, recordDir);
    assertEquals(await pod.pod.linkNames(), ["eth0", "lo"], "links left in the pod netns");
    assertEquals(
      (await pod.pod.qdiscs()).filter((q) => q.endsWith(":ingress")),
      [],
      "ingress qdiscs left in the pod netns",
    );
    assertEquals([...Deno.readDirSync(recordDir)], [], "attach records left behind");
  } finally {
    await pod.cleanup();
    await Deno.remove(recordDir, { recursive: true });
  }
  const left = (await new Deno.Command("ip", { args: ["netns", "list"] }).output()).stdout;
  const names = new TextDecoder().decode(left);
  assert(!names.includes(pod.pod.name) && !names.includes(pod.host.name), "netns left behind");
  assertEquals(fdCount(), fds, "fds leaked");
}

/** ARP for the gateway, then ping it, through tap fds; returns the gateway's MAC. */
async function pingGateway(fds: number[], pod: CniPod, guestMac: string): Promise<string> {
  const arp = await waitFrame(fds, readFrame, (f) => {
    const r = parseArpReply(f);
    return r && r.ip === pod.gateway ? r : null;
  }, () => writeFrame(fds[0], arpRequest(guestMac, pod.podIp, pod.gateway)));
  assert(arp, `no ARP reply from ${pod.gateway} through the tap`);
  assertEquals(arp.to, guestMac);
  const id = 0x4b00 + (Deno.pid & 0xff);
  const echo = await waitFrame(fds, readFrame, (f) => {
    const r = parseEchoReply(f);
    return r && r.from === pod.gateway && r.id === id ? r : null;
  }, () => writeFrame(fds[0], icmpEcho(guestMac, pod.podIp, arp.mac, pod.gateway, id, 1)));
  assert(echo, `no ICMP echo reply from ${pod.gateway} through the tap`);
  assertEquals(echo.seq, 1);
  return arp.mac;
}

test("net scan lists the CNI veth with its address, MAC, MTU and routes", async () => {
  await withPod(async (pod) => {
    const r = await shimCtlNet(["scan", "--netns", pod.pod.path]);
    assertEquals(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    const eth0 = pod.result.interfaces.find((i) => i.name === "eth0")!;
    assertEquals(out.endpoints.length, 1);
    const [ep] = out.endpoints;
    assertEquals(
      [ep.name, ep.type, ep.endpoint, ep.mac, ep.mtu],
      ["eth0", "veth", "veth", eth0.mac, 1500],
    );
    // IPv4 from the plugin; IPv6 link-local addresses (sent too, as runtime-rs does) when enabled.
    const v4 = ep.addresses.filter((a: string) => !a.includes(":"));
    assertEquals(v4, [pod.result.ips[0].address]);
    assert(ep.addresses.every((a: string) => !a.includes(":") || a.startsWith("fe80:")));
    // The subnet route is the kernel's own (made with the address): only the default route goes.
    assertEquals(
      ep.routes.map((x: { dest: string; gateway: string }) => [x.dest, x.gateway]),
      [["", pod.gateway]],
    );
  });
});

test("net attach tcfilter: frames through the tap reach the gateway and back; detach leaves nothing", async () => {
  await withPod(async (pod, recordDir) => {
    const flags = ["--netns", pod.pod.path, "--record-dir", recordDir];
    const a = await shimCtlNet(["attach", "--model", "tcfilter", ...flags]);
    assertEquals(a.code, 0, a.stderr);
    const [ep] = JSON.parse(a.stdout).endpoints;
    assertEquals([ep.name, ep.tap, ep.tapKind, ep.model], ["eth0", "tap0_kata", "tap", "tcfilter"]);
    assertEquals(await pod.pod.linkNames(), ["eth0", "lo", "tap0_kata"]);
    const mtu = JSON.parse(await pod.pod.ip("-j", "link", "show", "tap0_kata"))[0].mtu;
    assertEquals(mtu, 1500);
    const again = await shimCtlNet(["attach", ...flags]);
    assertEquals(again.code, 1);
    assertStringIncludes(again.stderr, "already attached");

    // The VMM's side: open the tap's queue and exchange frames as the guest would.
    const fds = openTap(pod.pod.path, ep.tap, 1, { nonblocking: true });
    try {
      const gwMac = await pingGateway(fds, pod, ep.guestMac);
      assertEquals(gwMac, pod.result.interfaces[0].mac, "reply came from the CNI bridge");
    } finally {
      closeTapFds(fds);
    }

    const d = await shimCtlNet(["detach", ...flags]);
    assertEquals(d.code, 0, d.stderr);
    assertEquals(JSON.parse(d.stdout).removed.length, 1);
    const d2 = await shimCtlNet(["detach", ...flags]);
    assertEquals(d2.code, 1);
    assertStringIncludes(d2.stderr, "No network attach record");
  });
});

test("net attach macvtap: frames through /dev/tapN reach the gateway and back", async () => {
  await withPod(async (pod, recordDir) => {
    const flags = ["--netns", pod.pod.path, "--record-dir", recordDir];
    const a = await shimCtlNet(["attach", "--model", "macvtap", "--queues", "2", ...flags]);
    assertEquals(a.code, 0, a.stderr);
    const [ep] = JSON.parse(a.stdout).endpoints;
    assertEquals([ep.tap, ep.tapKind, ep.queues], ["tap0_kata", "macvtap", 2]);
    assertEquals(ep.devicePath, `/dev/tap${ep.tapIndex}`);
    const link = JSON.parse(await pod.pod.ip("-j", "-d", "link", "show", "tap0_kata"))[0];
    assertEquals(link.linkinfo.info_kind, "macvtap");
    assertEquals(link.address, ep.guestMac, "passthru macvtap carries the guest MAC");
    const { openMacvtap } = await import("../../ffi/tun.ts");
    const fds = openMacvtap(ep.tapIndex, 2, { nonblocking: true });
    try {
      await pingGateway(fds, pod, ep.guestMac);
    } finally {
      closeTapFds(fds);
    }
    const d = await shimCtlNet(["detach", ...flags]);
    assertEquals(d.code, 0, d.stderr);
  });
});

test("net attach none with 2 queues: a multi-queue tap, no qdisc, removed by detach", async () => {
  await withPod(async (pod, recordDir) => {
    const flags = ["--netns", pod.pod.path, "--record-dir", recordDir];
    const a = await shimCtlNet(["attach", "--model", "none", "--queues", "2", ...flags]);
    assertEquals(a.code, 0, a.stderr);
    const [ep] = JSON.parse(a.stdout).endpoints;
    assertEquals([ep.model, ep.ingress], ["none", []]);
    const link = JSON.parse(await pod.pod.ip("-j", "-d", "link", "show", "tap0_kata"))[0];
    assertEquals(link.linkinfo.info_data.multi_queue, true);
    assertEquals(link.linkinfo.info_data.vnet_hdr, true);
    assertEquals((await pod.pod.qdiscs()).filter((q) => q.endsWith(":ingress")), []);
    const fds = openTap(pod.pod.path, "tap0_kata", 2);
    assertEquals(fds.length, 2);
    closeTapFds(fds);
    assertEquals((await shimCtlNet(["detach", ...flags])).code, 0);
  });
});

test("net attach refuses an unknown model, creating nothing", async () => {
  await withPod(async (pod, recordDir) => {
    const flags = ["--netns", pod.pod.path, "--record-dir", recordDir];
    const bad = await shimCtlNet(["attach", "--model", "bogus", ...flags]);
    assertEquals(bad.code, 1);
    assertStringIncludes(bad.stderr, 'Unknown internetworking model "bogus"');
  });
});

test("net attach l3forwarding: routed through the tap with proxy ARP; detach restores the netns", async () => {
  await withPod(async (pod, recordDir) => {
    const flags = ["--netns", pod.pod.path, "--record-dir", recordDir];
    const sysctl = (key: string) =>
      run("ip", ["netns", "exec", pod.pod.name, "cat", `/proc/sys/net/${key}`]).then((s) =>
        s.trim()
      );
    const localTable = () => pod.pod.ip("-4", "route", "show", "table", "local");
    const before = {
      forward: await sysctl("ipv4/ip_forward"),
      proxy: await sysctl("ipv4/conf/eth0/proxy_arp"),
      local: await localTable(),
      main: await pod.pod.ip("-4", "route", "show"),
    };
    const a = await shimCtlNet(["attach", "--model", "l3forwarding", ...flags]);
    assertEquals(a.code, 0, a.stderr);
    const [ep] = JSON.parse(a.stdout).endpoints;
    assertEquals([ep.model, ep.localRoutes], ["l3forwarding", [pod.podIp]]);
    assertEquals(await sysctl("ipv4/ip_forward"), "1");
    assertEquals(await sysctl("ipv4/conf/eth0/proxy_arp"), "1");
    assertEquals(await sysctl("ipv4/conf/tap0_kata/proxy_arp"), "1");
    assertStringIncludes(await pod.pod.ip("-4", "addr", "show", "tap0_kata"), "169.254.0.1/32");
    assertStringIncludes(await pod.pod.ip("-4", "route", "show"), `${pod.podIp} dev tap0_kata`);
    assert(!(await localTable()).includes(`local ${pod.podIp} `), "pod IP no longer local");

    const tapMac = JSON.parse(await pod.pod.ip("-j", "link", "show", "tap0_kata"))[0].address;
    const fds = openTap(pod.pod.path, "tap0_kata", 1, { nonblocking: true });
    try {
      // The pod netns answers the guest's ARP for the gateway with the tap's MAC (proxy ARP).
      const arp = await waitFrame(fds, readFrame, (f) => {
        const r = parseArpReply(f);
        return r && r.ip === pod.gateway ? r : null;
      }, () => writeFrame(fds[0], arpRequest(ep.guestMac, pod.podIp, pod.gateway)));
      assert(arp, "no proxy ARP reply through the tap");
      assertEquals(arp.mac, tapMac);
      // The echo is routed out of eth0; the reply is routed back to the tap, which first
      // asks who has the pod IP: the test answers as the guest would.
      const id = 0x4c00 + (Deno.pid & 0xff);
      const echo = await waitFrame(fds, readFrame, (f) => {
        const who = parseArpRequest(f);
        if (who && who.target === pod.podIp) {
          writeFrame(fds[0], arpReply(ep.guestMac, pod.podIp, who.mac, who.ip));
          return null;
        }
        const r = parseEchoReply(f);
        return r && r.from === pod.gateway && r.id === id ? r : null;
      }, () => writeFrame(fds[0], icmpEcho(ep.guestMac, pod.podIp, tapMac, pod.gateway, id, 1)));
      assert(echo, "no routed ICMP echo reply through the tap");
    } finally {
      closeTapFds(fds);
    }

    const d = await shimCtlNet(["detach", ...flags]);
    assertEquals(d.code, 0, d.stderr);
    assertEquals(await sysctl("ipv4/ip_forward"), before.forward);
    assertEquals(await sysctl("ipv4/conf/eth0/proxy_arp"), before.proxy);
    assertEquals(await localTable(), before.local, "local route of the pod IP is back");
    assertEquals(await pod.pod.ip("-4", "route", "show"), before.main);
  });
});

/** A recording stand-in for a hypervisor's NIC interface (a test double, not a VMM). */
class RecordingSink implements NetworkDeviceSink {
  added: NetworkDevice[] = [];
  removed: NetworkDevice[] = [];
  constructor(public hotplug: boolean, public vmState: VmState) {}
  capabilities() {
    return { netHotplug: this.hotplug };
  }
  state() {
    return this.vmState;
  }
  addDevice(d: NetworkDevice) {
    this.added.push(d);
    return Promise.resolve(d);
  }
  removeDevice(d: NetworkDevice) {
    this.removed.push(d);
    return Promise.resolve();
  }
}

test("network resource queues NICs for a VM without hotplug and flushes them at boot", async () => {
  await withPod(async (pod) => {
    const res = new NetworkResource(pod.pod.path, { model: "tcfilter", queues: 1 });
    const sink = new RecordingSink(false, "started");
    try {
      assertEquals(await res.attach(sink), []);
      assertEquals(res.queuedCount(), 1);
      assertEquals(sink.added, [], "nothing reaches a non-hotplug VM before boot");
      assertEquals(await pod.pod.linkNames(), ["eth0", "lo", "tap0_kata"], "tap made before boot");
      const flushed = await res.flushQueued(sink);
      assertEquals(flushed.map((d) => [d.tapName, d.guestMac, d.queues, d.mtu]), [
        ["tap0_kata", pod.result.interfaces.find((i) => i.name === "eth0")!.mac, 1, 1500],
      ]);
      assertEquals(sink.added.length, 1);
      const [iface] = res.interfaces();
      assertEquals(iface.IPAddresses.filter((a) => a.family === 0), [{
        family: 0,
        address: pod.podIp,
        mask: "24",
      }]);
      assertEquals(iface.hwAddr, flushed[0].guestMac);

      // A link that appears once the VM runs cannot be hotplugged: a clear error.
      sink.vmState = "running";
      await pod.pod.ip("link", "add", "late0", "type", "veth", "peer", "name", "late1");
      await pod.pod.ip("addr", "add", "10.254.0.2/24", "dev", "late0");
      let err: Error | undefined;
      await res.attach(sink).catch((e) => (err = e));
      assert(err, "late NIC on a running non-hotplug VM must fail");
      assertStringIncludes(err.message, "late0");
      assertStringIncludes(err.message, "cannot hotplug");
      await pod.pod.ip("link", "del", "late0");
    } finally {
      await res.detach(sink);
    }
    assertEquals(sink.removed.length, 1);
  });
});

test("plumbing recorded by one network resource is removed by a later process's cleanup", async () => {
  await withPod(async (pod) => {
    const res = new NetworkResource(pod.pod.path, { model: "tcfilter", queues: 1 });
    const sink = new RecordingSink(false, "started");
    await res.attach(sink);
    const saved = JSON.parse(JSON.stringify(res.plumbings()));
    assertEquals(saved.map((p: { tap: string; ingress: string[] }) => [p.tap, p.ingress]), [
      ["tap0_kata", ["tap0_kata", "eth0"]],
    ]);
    // As after a shim restart: only the saved records are left to go by.
    NetworkResource.removeRecorded(pod.pod.path, saved);
  });
});

test("network resource hotplugs NICs straight away when the VM can", async () => {
  await withPod(async (pod) => {
    const res = new NetworkResource(pod.pod.path, { model: "none", queues: 1 });
    const sink = new RecordingSink(true, "running");
    try {
      const added = await res.attach(sink);
      assertEquals(added.map((d) => d.tapName), ["tap0_kata"]);
      assertEquals(res.queuedCount(), 0);
      assertEquals(await res.attach(sink), [], "a rescan adds nothing twice");
    } finally {
      await res.detach(sink);
    }
  });
});

test("record path is per netns and stable", async () => {
  assertEquals(await recordPath("/run/netns/a", "/x"), await recordPath("/run/netns/a", "/x"));
  assert(await recordPath("/run/netns/a", "/x") !== await recordPath("/run/netns/b", "/x"));
});
