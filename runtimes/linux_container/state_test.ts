import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { StateStore } from "../../persist/mod.ts";
import { fromSandboxState, readState, writeState } from "./state.ts";

Deno.test("linux container state: round trip through the persisted state", async () => {
  const root = await Deno.makeTempDir();
  try {
    const store = new StateStore({ root });
    const s = {
      id: "c1",
      bundle: "/b",
      runtime: "/usr/sbin/runc",
      runtimeRoot: "/run/x",
      rootfsMounted: true,
      pid: 0,
    };
    await writeState(store, s);
    assertEquals(await readState(store, "c1"), s);
    assertEquals(await readState(store, "nope"), undefined);
    const loaded = await store.load("c1");
    assertEquals(loaded.runtime, "linux_container");
    assertThrows(() => fromSandboxState({ ...loaded, runtime: "virt_container" }));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
