import { assertEquals } from "../../tests/assert.ts";
import { execArgs, rootIsInitramfs, runArgs } from "./runc.ts";

const cfg = { binary: "runc", root: "/run/runc", noPivot: true };

Deno.test("runc command lines", () => {
  assertEquals(runArgs(cfg, "c1", "/b", "/b/init.pid"), [
    "--root",
    "/run/runc",
    "run",
    "--bundle",
    "/b",
    "--pid-file",
    "/b/init.pid",
    "--no-pivot",
    "c1",
  ]);
  assertEquals(execArgs({ ...cfg, noPivot: false }, "c1", "/b/e.json", "/b/e.pid"), [
    "--root",
    "/run/runc",
    "exec",
    "--process",
    "/b/e.json",
    "--pid-file",
    "/b/e.pid",
    "c1",
  ]);
});

Deno.test("the initramfs root is recognised from mountinfo", async () => {
  const f = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(f, "1 0 0:2 / / rw shared:1 - rootfs rootfs rw\n");
    assertEquals(await rootIsInitramfs(f), true);
    await Deno.writeTextFile(f, "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n");
    assertEquals(await rootIsInitramfs(f), false);
  } finally {
    await Deno.remove(f);
  }
});
