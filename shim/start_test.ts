import { assertThrows } from "../tests/assert.ts";
import { InvalidArgumentError } from "../common/errors.ts";
import { start } from "./start.ts";
import type { Invocation } from "./options.ts";

function invocation(flags: Partial<Invocation["flags"]>): Invocation {
  return { flags: { ...flags } as Invocation["flags"], action: "start", args: [] };
}

Deno.test("start: -id, -namespace and -address are required", () => {
  const full = { id: "x", namespace: "ns", address: "/run/containerd/containerd.sock" };
  for (const missing of ["id", "namespace", "address"] as const) {
    const flags = { ...full, [missing]: "" };
    assertThrows(() => start(invocation(flags)), InvalidArgumentError, `-${missing}`);
  }
});
