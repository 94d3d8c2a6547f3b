/**
 * The FFI layer in real namespaces: the thread always returns to its own
 * netns (also when the work throws or the target is bad), sockets stay bound
 * to the target, and no fd is left open.
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { inNetns } from "../../ffi/netns.ts";
import { NetlinkError, withRtNetlink } from "../../ffi/netlink.ts";
import { driverInfo } from "../../ffi/ethtool.ts";
import { closeTapFds, createTap, openTap } from "../../ffi/tun.ts";
import { Netns, run } from "./helpers.ts";
import { testsNeeding } from "../tier.ts";

const test = testsNeeding({ root: true, peers: ["ip"] });

const selfNs = () => Deno.readLinkSync("/proc/thread-self/ns/net");
const fdCount = () => [...Deno.readDirSync("/proc/self/fd")].length;

test("inNetns runs inside the target and always comes back", async () => {
  const ns = await Netns.create("rts-ffi");
  const before = selfNs();
  const fds = fdCount();
  try {
    const inside = inNetns(ns.path, () => selfNs());
    assert(inside !== before, "ran in the target namespace");
    assertEquals(selfNs(), before);
    assertThrows(
      () =>
        inNetns(ns.path, () => {
          throw new Error("boom");
        }),
      Error,
      "boom",
    );
    assertEquals(selfNs(), before, "back after a throw");
    assertThrows(() => inNetns("/run/netns/rts-no-such-ns", () => 1), Error, "rts-no-such-ns");
    assertEquals(selfNs(), before, "unchanged after a bad path");
    assertThrows(() => inNetns("/etc/hostname", () => 1), Error, "setns");
    assertEquals(selfNs(), before, "unchanged after setns refused a non-namespace file");
    assertEquals(fdCount(), fds, "no fd leaked");
  } finally {
    await ns.remove();
  }
});

test("rtnetlink opened in a netns acts there: links, set MTU/MAC/up/master, errors name the operation", async () => {
  const ns = await Netns.create("rts-ffi");
  const fds = fdCount();
  try {
    await ns.ip("link", "add", "va", "type", "veth", "peer", "name", "vb");
    withRtNetlink(ns.path, (nl) => {
      assertEquals(nl.links().map((l) => `${l.name}:${l.kind}`).sort(), [
        "lo:",
        "va:veth",
        "vb:veth",
      ]);
      const va = nl.mustLink("va");
      nl.setLink(va.index, { mtu: 1400, mac: "02:00:00:00:00:aa", up: true });
      const after = nl.mustLink("va");
      assertEquals([after.mtu, after.mac, (after.flags & 1) === 1], [
        1400,
        "02:00:00:00:00:aa",
        true,
      ]);
      assertEquals(nl.linkByName("nope0"), undefined);
    });
    await ns.ip("link", "add", "brm", "type", "bridge");
    withRtNetlink(ns.path, (nl) => {
      // Enslave to a bridge and release again.
      const [vb, br] = [nl.mustLink("vb"), nl.mustLink("brm")];
      nl.setLink(vb.index, { master: br.index });
      assertEquals(nl.mustLink("vb").master, br.index);
      assertEquals(nl.mustLink("brm").kind, "bridge");
      nl.setLink(vb.index, { master: 0 });
      assertEquals(nl.mustLink("vb").master, 0);
      const va = nl.mustLink("va");
      const e = assertThrows(() => nl.setLink(va.index, { mtu: 10 }), NetlinkError);
      assert(e.message.startsWith(`set link ${va.index}`), e.message);
    });
    // The host namespace does not see the pod's links.
    withRtNetlink("", (nl) => assertEquals(nl.linkByName("va"), undefined));
    assertEquals(driverInfo(ns.path, "va").driver, "veth");
    assertEquals(driverInfo(ns.path, "va").busInfo, "");
    assertEquals(fdCount(), fds, "no fd leaked");
  } finally {
    await ns.remove();
  }
});

test("taps: single-queue and multi-queue, persistent, opened per queue, deleted by netlink", async () => {
  const ns = await Netns.create("rts-ffi");
  const fds = fdCount();
  try {
    createTap(ns.path, "tq1", 1);
    createTap(ns.path, "tq4", 4);
    const info = (name: string) =>
      ns.ip("-j", "-d", "link", "show", name).then((s) => JSON.parse(s)[0].linkinfo.info_data);
    const one = await info("tq1");
    const four = await info("tq4");
    assertEquals([one.type, one.vnet_hdr, one.persist, one.multi_queue], [
      "tap",
      true,
      true,
      false,
    ]);
    assertEquals([four.vnet_hdr, four.multi_queue], [true, true]);
    const q = openTap(ns.path, "tq4", 4);
    assertEquals(q.length, 4);
    closeTapFds(q);
    assertEquals(q.length, 0);
    // A single-queue tap takes exactly one fd; asking for a second queue fails cleanly.
    assertThrows(() => openTap(ns.path, "tq1", 2), Error, "TUNSETIFF tq1");
    withRtNetlink(ns.path, (nl) => {
      for (const n of ["tq1", "tq4"]) nl.deleteLink(nl.mustLink(n).index);
    });
    assertEquals(await ns.linkNames(), ["lo"]);
    assertEquals(fdCount(), fds, "no fd leaked");
  } finally {
    await ns.remove();
  }
});

test("the redirect filters read back through tc as u32 match-all with mirred egress redirect", async () => {
  const ns = await Netns.create("rts-ffi");
  try {
    await ns.ip("link", "add", "ra", "type", "veth", "peer", "name", "rb");
    withRtNetlink(ns.path, (nl) => {
      const [a, b] = [nl.mustLink("ra"), nl.mustLink("rb")];
      nl.addIngressQdisc(a.index);
      nl.addRedirect(a.index, b.index);
      assertEquals(
        nl.ingressFilters(a.index).filter((f) => f.redirectTo).map((f) => f.redirectTo),
        [
          b.index,
        ],
      );
      const e = assertThrows(() => nl.addIngressQdisc(a.index), NetlinkError);
      assertEquals(e.errno, 17);
    });
    const shown = await run("tc", ["-n", ns.name, "filter", "show", "dev", "ra", "ingress"]);
    assert(shown.includes("protocol all"), shown);
    assert(shown.includes("match 00000000/00000000 at 0"), shown);
    assert(shown.includes("mirred (Egress Redirect to device rb) stolen"), shown);
    withRtNetlink(ns.path, (nl) => nl.deleteIngressQdisc(nl.mustLink("ra").index));
    assertEquals(await run("tc", ["-n", ns.name, "filter", "show", "dev", "ra", "ingress"]), "");
  } finally {
    await ns.remove();
  }
});
