import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { InvalidArgumentError } from "../../common/errors.ts";
import { endpointKind, modelFor, parseModel } from "./classify.ts";
import { linkType } from "./link_type.ts";
import { scannedVeth } from "./links_testing.ts";

Deno.test("link kinds map to runtime-rs link types", () => {
  assertEquals(
    ["tun", "veth", "ipvlan", "macvlan", "vlan", "bridge", "macvtap", "", "dummy"].map(linkType),
    ["tuntap", "veth", "ipvlan", "macvlan", "vlan", "bridge", "macvtap", "device", "device"],
  );
});

Deno.test("veth and plain devices are veth endpoints; macvlan, ipvlan and vlan keep their kind", () => {
  assertEquals(endpointKind(scannedVeth()), "veth");
  assertEquals(endpointKind(scannedVeth({ type: "device" })), "veth");
  for (const t of ["macvlan", "ipvlan", "vlan"] as const) {
    assertEquals(endpointKind(scannedVeth({ type: t })), t);
  }
});

Deno.test("a PCI bus address makes a physical endpoint whatever the kind", () => {
  assertEquals(endpointKind(scannedVeth({ type: "device", busInfo: "0000:06:02.5" })), "physical");
});

Deno.test("taps, bridges and macvtaps are refused naming the link and its type", () => {
  for (const t of ["tuntap", "bridge", "macvtap"] as const) {
    const e = assertThrows(() => endpointKind(scannedVeth({ type: t })), InvalidArgumentError);
    assertEquals(e.message.startsWith(`Unsupported link "eth0" of type "${t}"`), true, e.message);
  }
});

Deno.test("vlan and ipvlan always use tcfilter; others use the configured model", () => {
  assertEquals(modelFor("vlan", "macvtap"), "tcfilter");
  assertEquals(modelFor("ipvlan", "none"), "tcfilter");
  assertEquals(modelFor("veth", "macvtap"), "macvtap");
  assertEquals(modelFor("macvlan", "none"), "none");
});

Deno.test("model names parse; unknown ones are refused naming the value", () => {
  assertEquals(parseModel("tcfilter"), "tcfilter");
  assertThrows(() => parseModel("bridged"), InvalidArgumentError, 'model "bridged"');
});
