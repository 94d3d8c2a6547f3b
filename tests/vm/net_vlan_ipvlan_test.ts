/**
 * vlan and ipvlan pod links (kernel modules this project's host lacks, so this
 * runs in the VM group, inside the nested test host): each is classified as
 * its own endpoint kind, always gets the tcfilter model, passes frames from
 * its tap to the peer namespace and back, and leaves nothing after unplumbing.
 * Library calls instead of `shim-ctl` keep Deno start-ups (slow under
 * emulation) to one.
 */
import { assert, assertEquals } from "../assert.ts";
import { closeTapFds, openTap, readFrame, writeFrame } from "../../ffi/tun.ts";
import { createEndpoint } from "../../resource/network/create_endpoint.ts";
import { scanNetns } from "../../resource/network/scan.ts";
import { Netns } from "../network/helpers.ts";
import { arpRequest, parseArpReply, waitFrame } from "../network/frames.ts";
import { vmTest, type VmTestContext } from "./deadline.ts";

/**
 * A pod namespace holding `lower` (one end of a veth, no address) with the
 * link under test on top, and a host namespace holding the veth's other end.
 */
async function withPair(
  fn: (host: Netns, pod: Netns) => Promise<void>,
): Promise<void> {
  const host = await Netns.create("rts-vh");
  const pod = await Netns.create("rts-vp");
  try {
    await host.ip("link", "add", "lower0", "type", "veth", "peer", "name", "peer0");
    await host.ip("link", "set", "lower0", "netns", pod.name);
    await host.ip("link", "set", "peer0", "up");
    // No IPv6 link-local address: the lower link must not count as a pod link itself.
    await pod.ip("link", "set", "lower0", "addrgenmode", "none");
    await pod.ip("link", "set", "lower0", "up");
    await fn(host, pod);
  } finally {
    await pod.remove();
    await host.remove();
  }
}

/** Scans, plumbs (asking for macvtap), checks tcfilter was used, ARPs `peerIp` through the tap. */
async function checkEndpoint(
  ctx: VmTestContext,
  pod: Netns,
  link: string,
  kind: string,
  ip: string,
  peerIp: string,
) {
  ctx.step(`the scan and plumbing of ${link}`);
  const found = scanNetns(pod.path);
  assertEquals(found.map((s) => [s.link.name, s.type]), [[link, kind]], "lower0 has no address");
  const ep = createEndpoint(pod.path, found[0], "macvtap", 1);
  assertEquals([ep.kind, ep.model], [kind, "tcfilter"]);
  const dev = ep.plumb();
  try {
    assertEquals([dev.tapName, dev.guestMac], ["tap0_kata", found[0].link.mac]);
    const fds = openTap(pod.path, dev.tapName, 1, { nonblocking: true });
    try {
      ctx.step(`an ARP reply from ${peerIp} through ${dev.tapName} (${kind})`);
      const reply = await waitFrame(
        fds,
        readFrame,
        (f) => {
          const r = parseArpReply(f);
          return r && r.ip === peerIp ? r : null;
        },
        () => writeFrame(fds[0], arpRequest(dev.guestMac, ip, peerIp)),
        20000,
      );
      assert(reply, `no ARP reply from ${peerIp} through the ${kind} link's tap`);
      assertEquals(reply.to, dev.guestMac);
    } finally {
      closeTapFds(fds);
    }
  } finally {
    ep.unplumb();
  }
  ctx.step(`the unplumbing check of ${link}`);
  assertEquals(await pod.linkNames(), ["lo", "lower0", link].sort());
  assertEquals((await pod.qdiscs()).filter((q) => q.endsWith(":ingress")), []);
}

vmTest({
  name: "a vlan pod link is a vlan endpoint on tcfilter with traffic both ways",
  deadlineMs: 120_000,
}, async (ctx) => {
  ctx.step("the veth pair in two namespaces");
  await withPair(async (host, pod) => {
    await host.ip("link", "add", "link", "peer0", "name", "peer0.5", "type", "vlan", "id", "5");
    await host.ip("addr", "add", "10.81.0.1/24", "dev", "peer0.5");
    await host.ip("link", "set", "peer0.5", "up");
    await pod.ip("link", "add", "link", "lower0", "name", "vl5", "type", "vlan", "id", "5");
    await pod.ip("addr", "add", "10.81.0.2/24", "dev", "vl5");
    await pod.ip("link", "set", "vl5", "up");
    await checkEndpoint(ctx, pod, "vl5", "vlan", "10.81.0.2", "10.81.0.1");
  });
});

vmTest({
  name: "an ipvlan pod link is an ipvlan endpoint on tcfilter with traffic both ways",
  deadlineMs: 120_000,
}, async (ctx) => {
  ctx.step("the veth pair in two namespaces");
  await withPair(async (host, pod) => {
    await host.ip("addr", "add", "10.82.0.1/24", "dev", "peer0");
    await pod.ip("link", "add", "link", "lower0", "name", "iv0", "type", "ipvlan", "mode", "l2");
    await pod.ip("addr", "add", "10.82.0.2/24", "dev", "iv0");
    await pod.ip("link", "set", "iv0", "up");
    await checkEndpoint(ctx, pod, "iv0", "ipvlan", "10.82.0.2", "10.82.0.1");
  });
});
