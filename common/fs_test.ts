import { assertEquals } from "../tests/assert.ts";
import { exists } from "./fs.ts";

Deno.test("exists: a file and a directory exist, a missing path and a dangling link do not", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/f`, "x");
    Deno.symlinkSync(`${dir}/missing`, `${dir}/dangling`);
    assertEquals(
      [exists(dir), exists(`${dir}/f`), exists(`${dir}/missing`), exists(`${dir}/dangling`)],
      [true, true, false, false],
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
