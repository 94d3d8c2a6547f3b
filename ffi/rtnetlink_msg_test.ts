import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import { FfiError } from "./errors.ts";
import * as m from "./rtnetlink_msg.ts";

const le32 = (b: Uint8Array, off: number) =>
  new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off, true);
const le16 = (b: Uint8Array, off: number) =>
  new DataView(b.buffer, b.byteOffset, b.byteLength).getUint16(off, true);

Deno.test("attributes carry their unpadded length and are padded to 4 bytes", () => {
  const a = m.attrStr(3, "eth0");
  assertEquals(a.length, 12);
  assertEquals([le16(a, 0), le16(a, 2)], [9, 3]);
  assertEquals([...a.subarray(4, 9)], [101, 116, 104, 48, 0]);
  const u = m.attrU32(4, 1500);
  assertEquals([u.length, le16(u, 0), le32(u, 4)], [8, 8, 1500]);
  const n = m.nest(18, [m.attrStr(1, "veth")]);
  assertEquals(le16(n, 0), 4 + 12);
  assertEquals(m.parseAttrs(n.subarray(4)).get(1)?.length, 5);
});

Deno.test("a message has nlmsghdr, the padded family header and the attributes", () => {
  const msg = m.setLink(7, 3, { up: true, mtu: 1400 });
  assertEquals(le32(msg, 0), msg.length);
  assertEquals([le16(msg, 4), le16(msg, 6), le32(msg, 8)], [
    m.RTM.NEWLINK,
    m.NLM_F.REQUEST | m.NLM_F.ACK,
    7,
  ]);
  // ifinfomsg: index 3, flags IFF_UP, change mask IFF_UP
  assertEquals([le32(msg, 16 + 4), le32(msg, 16 + 8), le32(msg, 16 + 12)], [3, 1, 1]);
  const attrs = m.parseAttrs(msg, 32);
  assertEquals(le32(attrs.get(4)!, 0), 1400);
  const down = m.setLink(1, 3, { up: false });
  assertEquals([le32(down, 24), le32(down, 28)], [0, 1]);
  const macOnly = m.setLink(1, 3, { mac: "02:00:00:00:00:01" });
  assertEquals(le32(macOnly, 28), 0, "no flag change requested");
  assertEquals([...m.parseAttrs(macOnly, 32).get(1)!], [2, 0, 0, 0, 0, 1]);
});

Deno.test("dump requests ask for a dump; reply datagrams split into messages", () => {
  const req = m.getLinks(1);
  assertEquals(le16(req, 6), m.NLM_F.REQUEST | m.NLM_F.DUMP);
  const two = new Uint8Array([...m.getAddrs(5), ...m.getRoutes(6)]);
  const msgs = m.parseMessages(two);
  assertEquals(msgs.map((x) => [x.type, x.seq]), [[m.RTM.GETADDR, 5], [m.RTM.GETROUTE, 6]]);
  assertThrows(() => m.parseMessages(new Uint8Array([64, 0, 0, 0, ...new Array(12).fill(0)])));
});

Deno.test("errors decode errno and the kernel's extended-ACK text", () => {
  const orig = m.getLinks(9);
  const body = new Uint8Array(4 + orig.length);
  new DataView(body.buffer).setInt32(0, -17, true);
  body.set(orig, 4);
  const text = m.attrStr(1, "File exists here");
  const payload = new Uint8Array([...body, ...text]);
  const e = m.parseError({ type: 2, flags: m.NLM_F.ACK_TLVS, seq: 9, payload });
  assertEquals(e, { errno: 17, message: "File exists here" });
  const capped = new Uint8Array([...body.subarray(0, 4 + 16), ...text]);
  assertEquals(
    m.parseError({ type: 2, flags: m.NLM_F.ACK_TLVS | m.NLM_F.CAPPED, seq: 9, payload: capped }),
    { errno: 17, message: "File exists here" },
  );
  const ack = new Uint8Array(20);
  assertEquals(m.parseError({ type: 2, flags: 0, seq: 1, payload: ack }), {
    errno: 0,
    message: undefined,
  });
});

Deno.test("a link reply parses name, MAC, MTU, master, parent and IFLA_INFO_KIND", () => {
  // Build an RTM_NEWLINK payload the way the kernel lays it out.
  const ifi = new Uint8Array(16);
  const v = new DataView(ifi.buffer);
  v.setUint16(2, 1, true);
  v.setInt32(4, 5, true);
  v.setUint32(8, m.IFF.UP | m.IFF.NOARP, true);
  const payload = new Uint8Array([
    ...ifi,
    ...m.attrStr(3, "eth0"),
    ...m.attr(1, new Uint8Array([0xf6, 2, 0x33, 0xa0, 0x61, 0xdf])),
    ...m.attrU32(4, 9000),
    ...m.attrU32(10, 2),
    ...m.attrU32(5, 4),
    ...m.nest(18 | 0x8000, [m.attrStr(1, "veth")]),
  ]);
  assertEquals(m.parseLink(payload), {
    index: 5,
    hwType: 1,
    flags: m.IFF.UP | m.IFF.NOARP,
    name: "eth0",
    mac: "f6:02:33:a0:61:df",
    mtu: 9000,
    master: 2,
    parent: 4,
    kind: "veth",
    txQueueLen: 0,
  });
});

Deno.test("address, route and neighbour replies parse", () => {
  const ifa = new Uint8Array([2, 24, 0, 0, 3, 0, 0, 0]);
  assertEquals(
    m.parseAddr(
      new Uint8Array([
        ...ifa,
        ...m.attr(1, new Uint8Array([10, 0, 0, 9])),
        ...m.attr(2, new Uint8Array([10, 0, 0, 2])),
      ]),
    ),
    { family: 2, prefixLen: 24, scope: 0, index: 3, address: "10.0.0.2" },
  );
  const rtm = new Uint8Array([2, 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0]);
  const route = m.parseRoute(
    new Uint8Array([...rtm, ...m.attr(5, new Uint8Array([10, 0, 0, 1])), ...m.attrU32(4, 3)]),
  );
  assertEquals([route.dst, route.dstLen, route.gateway, route.oif, route.table], [
    "",
    0,
    "10.0.0.1",
    3,
    254,
  ]);
  const nd = new Uint8Array(12);
  new DataView(nd.buffer).setInt32(4, 3, true);
  new DataView(nd.buffer).setUint16(8, m.NUD.PERMANENT, true);
  nd[0] = 2;
  const n = m.parseNeighbour(
    new Uint8Array([
      ...nd,
      ...m.attr(1, new Uint8Array([10, 0, 0, 7])),
      ...m.attr(2, new Uint8Array([2, 0, 0, 0, 0, 7])),
    ]),
  );
  assertEquals(n, {
    family: 2,
    index: 3,
    state: m.NUD.PERMANENT,
    flags: 0,
    dst: "10.0.0.7",
    lladdr: "02:00:00:00:00:07",
  });
});

Deno.test("the redirect filter is u32 match-all at ingress with a stolen mirred egress redirect", () => {
  const msg = m.newRedirectFilter(1, 4, 7);
  const [parsed] = m.parseMessages(msg);
  const p = parsed.payload;
  // tcmsg: ifindex 4, parent ffff:0000, info = prio << 16 | htons(ETH_P_ALL)
  assertEquals([le32(p, 4), le32(p, 12), le32(p, 16)], [
    4,
    0xffff0000,
    ((49152 << 16) | 0x0300) >>> 0,
  ]);
  assertEquals(m.parseFilter(p), { index: 4, kind: "u32", redirectTo: 7 });
  const opts = m.parseAttrs(p, 20).get(2)!;
  const sel = m.parseAttrs(opts).get(5)!;
  assertEquals([sel[0], sel[2], sel.length], [1, 1, 32], "terminal, one all-zero key");
  assert(sel.subarray(4).every((b) => b === 0));
  const q = m.parseMessages(m.newIngressQdisc(2, 4))[0].payload;
  assertEquals([le32(q, 8), le32(q, 12)], [m.TC_H.INGRESS_HANDLE, m.TC_H.INGRESS]);
});

Deno.test("a macvtap request names its parent, mode and kind", () => {
  const [msg] = m.parseMessages(m.newMacvtap(1, "tap0_kata", 3, "passthru", { mtu: 1400 }));
  assertEquals(msg.flags, m.NLM_F.REQUEST | m.NLM_F.ACK | m.NLM_F.CREATE | m.NLM_F.EXCL);
  const a = m.parseAttrs(msg.payload, 16);
  assertEquals([le32(a.get(5)!, 0), le32(a.get(4)!, 0)], [3, 1400]);
  const info = m.parseAttrs(a.get(18)!);
  assertEquals(new TextDecoder().decode(info.get(1)), "macvtap\0");
  assertEquals(le32(m.parseAttrs(info.get(2)!).get(1)!, 0), m.MACVLAN_MODE.passthru);
});

Deno.test("addresses format like the kernel's tools", () => {
  assertEquals(m.formatIp(new Uint8Array([192, 168, 1, 2])), "192.168.1.2");
  const v6 = (s: number[]) => m.formatIp(new Uint8Array(s));
  assertEquals(v6([0xfe, 0x80, ...new Array(13).fill(0), 1]), "fe80::1");
  assertEquals(v6(new Array(16).fill(0)), "::");
  assertEquals(
    v6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]),
    "2001:db8::1:0:0:1",
  );
  assertEquals(v6([0, 1, 0, 0, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7]), "1:0:2:3:4:5:6:7");
  assertEquals(m.formatMac(new Uint8Array([0, 0x1b, 0xff, 1, 2, 3])), "00:1b:ff:01:02:03");
  assertThrows(() => m.parseMac("00:11:22:33:44"), FfiError, "Invalid MAC address");
});

Deno.test("IPv4 address and route requests carry their attributes", () => {
  const [a] = m.parseMessages(m.newAddr4(1, 5, "169.254.0.1", 32));
  assertEquals([a.type, a.payload[0], a.payload[1], le32(a.payload, 4)], [m.RTM.NEWADDR, 2, 32, 5]);
  assertEquals([...m.parseAttrs(a.payload, 8).get(2)!], [169, 254, 0, 1]);
  const spec = {
    table: m.RT.TABLE_LOCAL,
    protocol: m.RT.PROT_KERNEL,
    scope: m.RT.SCOPE_HOST,
    type: m.RT.LOCAL,
    dst: "10.0.0.2",
    dstLen: 32,
    oif: 3,
    prefSource: "10.0.0.2",
  };
  const [add] = m.parseMessages(m.route4(2, "add", spec));
  assertEquals([add.type, add.flags & m.NLM_F.CREATE], [m.RTM.NEWROUTE, m.NLM_F.CREATE]);
  assertEquals([...add.payload.subarray(0, 8)], [2, 32, 0, 0, 255, 2, 254, 2]);
  const back = m.parseRoute(add.payload);
  assertEquals([back.dst, back.oif, back.prefSource, back.table], ["10.0.0.2", 3, "10.0.0.2", 255]);
  const [del] = m.parseMessages(m.route4(3, "delete", { ...spec, table: 1000 }));
  assertEquals([del.type, del.payload[4], m.parseRoute(del.payload).table], [
    m.RTM.DELROUTE,
    0,
    1000,
  ]);
  assertThrows(() => m.parseIp4("10.0.0"), FfiError, "Invalid IPv4 address");
  assertThrows(() => m.parseIp4("10.0.0.256"), FfiError);
});
