import { assertEquals } from "../tests/assert.ts";
import { isPciBusInfo, parseDriverInfo } from "./ethtool.ts";

Deno.test("drvinfo decodes driver, version and bus info", () => {
  const b = new Uint8Array(196);
  const put = (off: number, s: string) => b.set(new TextEncoder().encode(s), off);
  put(4, "ixgbe");
  put(36, "5.1.0");
  put(100, "0000:06:02.5");
  assertEquals(parseDriverInfo(b), { driver: "ixgbe", version: "5.1.0", busInfo: "0000:06:02.5" });
});

Deno.test("a PCI address has three colon-separated parts", () => {
  assertEquals(isPciBusInfo("0000:06:02.5"), true);
  assertEquals(isPciBusInfo(""), false);
  assertEquals(isPciBusInfo("tap"), false);
  assertEquals(isPciBusInfo("platform:fe300000"), false);
});
