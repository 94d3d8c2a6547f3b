import { assertEquals } from "../../tests/assert.ts";
import { watchV2 } from "./oom.ts";

// The v1 eventfd path runs against the real kernel in tests/linux_container_test.ts;
// this host has no pure cgroup v2, so the v2 poll reads a memory.events file in a temp dir.
Deno.test("oom: cgroup v2 oom_kill growth in memory.events is reported once per kill", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/memory.events`, "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
    let kills = 0;
    const w = watchV2(dir, () => kills++)!;
    try {
      await Deno.writeTextFile(`${dir}/memory.events`, "oom 1\noom_kill 1\n");
      await new Promise((r) => setTimeout(r, 1300));
      assertEquals(kills, 1);
      await Deno.writeTextFile(`${dir}/memory.events`, "oom 3\noom_kill 3\n");
      await new Promise((r) => setTimeout(r, 1100));
      assertEquals(kills, 2);
    } finally {
      w.close();
    }
    assertEquals(watchV2(`${dir}/missing`, () => {}), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
