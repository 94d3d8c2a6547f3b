/**
 * Link classification on real links: a macvlan pod link (scanned, attached
 * with tcfilter, traffic through the tap, removed), and the links the
 * resource refuses (a tap, a bridge) with errors naming the link.
 * vlan and ipvlan need kernel modules this host lacks: see tests/vm/net_vlan_ipvlan_test.ts.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { closeTapFds, openTap, readFrame, writeFrame } from "../../ffi/tun.ts";
import { Netns, run, shimCtlNet } from "./helpers.ts";
import { arpRequest, parseArpReply, waitFrame } from "./frames.ts";
import { testsNeeding } from "../tier.ts";

const test = testsNeeding({ root: true, peers: ["ip"] });

/** A host netns with a veth whose far end answers at 10.77.0.1, and a pod netns. */
async function withNamespaces(fn: (host: Netns, pod: Netns) => Promise<void>) {
  const host = await Netns.create("rts-lh");
  const pod = await Netns.create("rts-lp");
  try {
    await host.ip("link", "add", "vh0", "type", "veth", "peer", "name", "vh1");
    await host.ip("addr", "add", "10.77.0.1/24", "dev", "vh1");
    await host.ip("link", "set", "vh0", "up");
    await host.ip("link", "set", "vh1", "up");
    await fn(host, pod);
  } finally {
    await pod.remove();
    await host.remove();
  }
}

test("a macvlan pod link is a macvlan endpoint; tcfilter traffic reaches its lower's peer", async () => {
  await withNamespaces(async (host, pod) => {
    await host.ip("link", "add", "link", "vh0", "name", "mv0", "type", "macvlan", "mode", "bridge");
    await host.ip("link", "set", "mv0", "netns", pod.name);
    await pod.ip("addr", "add", "10.77.0.2/24", "dev", "mv0");
    await pod.ip("link", "set", "mv0", "up");
    const mac = JSON.parse(await pod.ip("-j", "link", "show", "mv0"))[0].address;

    const scan = await shimCtlNet(["scan", "--netns", pod.path]);
    assertEquals(scan.code, 0, scan.stderr);
    const [ep] = JSON.parse(scan.stdout).endpoints;
    assertEquals([ep.name, ep.type, ep.endpoint, ep.mac], ["mv0", "macvlan", "macvlan", mac]);

    const dir = await Deno.makeTempDir({ prefix: "rts-net-rec-" });
    try {
      const flags = ["--netns", pod.path, "--record-dir", dir];
      const a = await shimCtlNet(["attach", ...flags]);
      assertEquals(a.code, 0, a.stderr);
      assertEquals(JSON.parse(a.stdout).endpoints[0].model, "tcfilter");
      const fds = openTap(pod.path, "tap0_kata", 1, { nonblocking: true });
      try {
        const reply = await waitFrame(fds, readFrame, (f) => {
          const r = parseArpReply(f);
          return r && r.ip === "10.77.0.1" ? r : null;
        }, () => writeFrame(fds[0], arpRequest(mac, "10.77.0.2", "10.77.0.1")));
        assert(reply, "no ARP reply through the macvlan's tap");
        assertEquals(reply.to, mac);
      } finally {
        closeTapFds(fds);
      }
      const d = await shimCtlNet(["detach", ...flags]);
      assertEquals(d.code, 0, d.stderr);
      assertEquals(await pod.linkNames(), ["lo", "mv0"]);
      assertEquals((await pod.qdiscs()).filter((q) => q.endsWith(":ingress")), []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

test("a tap in the pod netns is refused naming the link and its type; nothing is created", async () => {
  await withNamespaces(async (_host, pod) => {
    await pod.ip("tuntap", "add", "usertap0", "mode", "tap");
    await pod.ip("addr", "add", "10.78.0.2/24", "dev", "usertap0");
    const dir = await Deno.makeTempDir({ prefix: "rts-net-rec-" });
    try {
      for (const sub of ["scan", "attach"]) {
        const r = await shimCtlNet([sub, "--netns", pod.path, "--record-dir", dir]);
        assertEquals(r.code, 1, `${sub}: ${r.stdout}`);
        assertStringIncludes(r.stderr, 'Unsupported link "usertap0" of type "tuntap"');
      }
      assertEquals(await pod.linkNames(), ["lo", "usertap0"]);
      assertEquals([...Deno.readDirSync(dir)], []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

test("a bridge with an address in the pod netns is refused naming it", async () => {
  await withNamespaces(async (_host, pod) => {
    await pod.ip("link", "add", "br9", "type", "bridge");
    await pod.ip("addr", "add", "10.79.0.2/24", "dev", "br9");
    const r = await shimCtlNet(["scan", "--netns", pod.path]);
    assertEquals(r.code, 1);
    assertStringIncludes(r.stderr, 'Unsupported link "br9" of type "bridge"');
  });
});

test("links without addresses and loopback are skipped; a missing netns is an error", async () => {
  await withNamespaces(async (_host, pod) => {
    await pod.ip("link", "add", "noaddr0", "type", "veth", "peer", "name", "noaddr1");
    const r = await shimCtlNet(["scan", "--netns", pod.path]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(JSON.parse(r.stdout), { endpoints: [] });
  });
  const missing = await shimCtlNet(["scan", "--netns", "/run/netns/rts-does-not-exist"]);
  assertEquals(missing.code, 1);
  assertStringIncludes(missing.stderr, "/run/netns/rts-does-not-exist does not exist");
  const noFlag = await shimCtlNet(["scan"]);
  assertEquals(noFlag.code, 2);
  assertStringIncludes(noFlag.stderr, "-netns is required");
});

test("a failed attach removes what it had made and keeps no record", async () => {
  await withNamespaces(async (_host, pod) => {
    await pod.ip("link", "add", "pe0", "type", "veth", "peer", "name", "pe1");
    await pod.ip("addr", "add", "10.80.0.2/24", "dev", "pe0");
    // An ingress qdisc someone else put on the pod link: tcfilter cannot own it.
    await run("tc", ["-n", pod.name, "qdisc", "add", "dev", "pe0", "ingress"]);
    const dir = await Deno.makeTempDir({ prefix: "rts-net-rec-" });
    try {
      const r = await shimCtlNet(["attach", "--netns", pod.path, "--record-dir", dir]);
      assertEquals(r.code, 1);
      assertStringIncludes(r.stderr, 'Link "pe0" already has an ingress qdisc');
      assertEquals(await pod.linkNames(), ["lo", "pe0", "pe1"], "the tap made first is gone");
      assertEquals(await pod.qdiscs().then((q) => q.filter((x) => x.endsWith(":ingress"))), [
        "pe0:ingress",
      ], "the foreign qdisc is untouched");
      assertEquals([...Deno.readDirSync(dir)], []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

test("l3forwarding refuses a namespace with more than one pod link", async () => {
  await withNamespaces(async (_host, pod) => {
    for (const [a, b, ip] of [["la0", "la1", "10.83.0.2/24"], ["lb0", "lb1", "10.84.0.2/24"]]) {
      await pod.ip("link", "add", a, "type", "veth", "peer", "name", b);
      await pod.ip("addr", "add", ip, "dev", a);
    }
    const dir = await Deno.makeTempDir({ prefix: "rts-net-rec-" });
    try {
      const r = await shimCtlNet([
        "attach",
        "--model",
        "l3forwarding",
        "--netns",
        pod.path,
        "--record-dir",
        dir,
      ]);
      assertEquals(r.code, 1);
      assertStringIncludes(r.stderr, "supports one interface per network namespace, found 2");
      assertEquals(await pod.linkNames(), ["la0", "la1", "lb0", "lb1", "lo"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});
