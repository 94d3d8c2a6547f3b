import { assert, assertEquals } from "./assert.ts";
import { isRoot, needs, onPath, unmetNeeds } from "./tier.ts";

Deno.test("the unit tier ignores every test that needs root or peers, for root too", () => {
  assertEquals(unmetNeeds({ root: true }, "unit"), "unit tier: needs root");
  assertEquals(unmetNeeds({ peers: ["sh"], paths: ["/"] }, "unit"), "unit tier: needs sh, /");
  assertEquals(unmetNeeds({}, "unit"), undefined);
});

Deno.test("outside the unit tier, a need is unmet only where it is missing", () => {
  assertEquals(unmetNeeds({ peers: ["sh"], paths: ["/"] }, null), undefined);
  assertEquals(
    unmetNeeds({ peers: ["sh", "no-such-peer-binary"] }, null),
    "needs no-such-peer-binary on PATH",
  );
  assertEquals(unmetNeeds({ paths: ["/no/such/device"] }, null), "needs /no/such/device");
  assertEquals(unmetNeeds({ root: true }, null), isRoot() ? undefined : "needs root");
  assert(onPath("sh") && onPath("/bin/sh") && !onPath("/etc") && !onPath("no-such-peer-binary"));
  assertEquals(needs({ peers: ["no-such-peer-binary"] }), { ignore: true });
  assertEquals(needs({}), { ignore: false });
});
