import { assertEquals } from "../../tests/assert.ts";
import { GuestMemory } from "./memory.ts";
import { watchMemoryFile } from "./memory_file_watch.ts";

Deno.test("memory file watch: a process about to truncate a clone's file stops it first, then proceeds", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/memory`;
  const size = 1 << 20;
  try {
    GuestMemory.fromFile(size, { path, mode: "shared" }).close();
    const clone = GuestMemory.fromFile(size, { path, mode: "private" });
    const why = new Promise<string>((resolve) =>
      watchMemoryFile(clone, (reason) => {
        clone.close(); // what the VM's stop does: the lease goes with the memory
        resolve(reason);
      })
    );
    const truncate = new Deno.Command("sh", { args: ["-c", `: >'${path}'`] }).spawn();
    assertEquals(
      await why,
      `Memory file ${path} is being truncated or written by another process`,
    );
    assertEquals((await truncate.status).code, 0);
    assertEquals(Deno.statSync(path).size, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
