import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { readRecord, recordPath, removeRecord, writeRecord } from "./record.ts";

Deno.test("records round-trip, are per netns, and bad ones are refused naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = await recordPath("/run/netns/pod1", dir);
    assertEquals(path.startsWith(`${dir}/`) && path.endsWith(".json"), true);
    assertEquals(path === await recordPath("/run/netns/pod2", dir), false);
    assertEquals(await readRecord(path), undefined);
    const rec = {
      version: 1 as const,
      netns: "/run/netns/pod1",
      created: [{
        model: "tcfilter" as const,
        link: "eth0",
        tap: "tap0_kata",
        tapKind: "tap" as const,
        tapIndex: 3,
        queues: 1,
        ingress: ["tap0_kata", "eth0"],
      }],
    };
    await writeRecord(path, rec);
    assertEquals(await readRecord(path), rec);
    await Deno.writeTextFile(path, JSON.stringify({ version: 2 }));
    await assertRejects(() => readRecord(path), Error, `Invalid network attach record ${path}`);
    await removeRecord(path);
    await removeRecord(path);
    assertEquals(await readRecord(path), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
