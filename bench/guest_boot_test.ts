import { assertStringIncludes } from "../tests/assert.ts";
import { table } from "./guest_boot.ts";

Deno.test("the guest boot table shows the recorded figure, where and when", () => {
  const t = table({ when: "2026-12-02T17:01:02.000Z", where: "KVM", ms: 21_734 });
  assertStringIncludes(t, "| 2026-12-02T17:01 | KVM | 21.7 s |");
  assertStringIncludes(t, "deno task bench guest-boot");
});
