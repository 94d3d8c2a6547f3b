import { assertEquals, assertThrows } from "../tests/assert.ts";
import { FfiError } from "./errors.ts";
import { ifreq, tapFlags } from "./tun.ts";

Deno.test("tap flags: vnet header always, multi-queue only for more than one queue", () => {
  const IFF_TAP = 0x2, IFF_VNET_HDR = 0x4000, IFF_MULTI_QUEUE = 0x100, IFF_ONE_QUEUE = 0x2000;
  assertEquals(tapFlags(1) & (IFF_TAP | IFF_VNET_HDR), IFF_TAP | IFF_VNET_HDR);
  assertEquals(tapFlags(1) & IFF_MULTI_QUEUE, 0);
  assertEquals(tapFlags(1) & IFF_ONE_QUEUE, IFF_ONE_QUEUE);
  assertEquals(tapFlags(2) & IFF_MULTI_QUEUE, IFF_MULTI_QUEUE);
});

Deno.test("ifreq holds the name and flags; bad names are refused", () => {
  const r = ifreq("tap0_kata", 0x4002);
  assertEquals(r.length, 40);
  assertEquals(new TextDecoder().decode(r.subarray(0, 9)), "tap0_kata");
  assertEquals([r[9], r[16], r[17]], [0, 0x02, 0x40]);
  assertThrows(() => ifreq(""), FfiError, "Invalid interface name");
  assertThrows(() => ifreq("a-very-long-name0"), FfiError, "1 to 15 bytes");
});
