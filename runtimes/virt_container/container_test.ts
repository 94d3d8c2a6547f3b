import { assertEquals } from "../../tests/assert.ts";
import { sharesSandboxPidns } from "./container.ts";

Deno.test("a pod container shares the sandbox PID namespace only when its spec joins one", () => {
  const spec = (pid: Record<string, string>) => ({
    linux: { namespaces: [{ type: "pid", ...pid }, { type: "ipc", path: "/proc/1/ns/ipc" }] },
  });
  assertEquals(
    sharesSandboxPidns({ isSandbox: false, spec: spec({ path: "/proc/7/ns/pid" }) }),
    true,
  );
  assertEquals(sharesSandboxPidns({ isSandbox: false, spec: spec({}) }), false);
  assertEquals(
    sharesSandboxPidns({ isSandbox: true, spec: spec({ path: "/proc/7/ns/pid" }) }),
    false,
  );
});
