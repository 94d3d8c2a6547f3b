import { assertRejects, assertStringIncludes } from "../../tests/assert.ts";
import { NotFoundError } from "../../common/errors.ts";
import { OciRuntime } from "./oci_runtime.ts";

// Real runc with an empty root: its errors come from its JSON log, classified.
Deno.test("oci runtime: errors name the operation and carry runc's reason", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const rt = new OciRuntime("runc", `${dir}/root`, `${dir}/log.json`);
    const e = await assertRejects(() => rt.start("ghost"), NotFoundError);
    assertStringIncludes(e.message, 'Cannot start container "ghost": runc:');
    assertStringIncludes(e.message, "does not exist");
    await assertRejects(() => rt.state("ghost"), NotFoundError);
    // Deleting what does not exist is not an error (clean-up runs twice).
    await rt.delete("ghost", true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
