import { assert, assertEquals, assertRejects } from "../tests/assert.ts";
import { ConfigError } from "../common/errors.ts";
import { handlerFactory } from "./manager.ts";
import { Reaper } from "./reaper.ts";

const configDir = new URL("../config/", import.meta.url).pathname;

/** A copy of a shipped configuration with `edit` applied to its text. */
function configCopy(name: string, edit: (text: string) => string): string {
  const dir = Deno.makeTempDirSync({ prefix: "manager-test-" });
  const path = `${dir}/configuration.toml`;
  Deno.writeTextFileSync(path, edit(Deno.readTextFileSync(`${configDir}/${name}`)));
  return path;
}

Deno.test("the manager builds the handler the configuration's runtime names", async () => {
  const factory = handlerFactory({ reaper: new Reaper(), events: () => {} });
  const virt = await factory(`${configDir}/configuration-qemu.toml`);
  assertEquals(virt.constructor.name, "VirtContainerHandler");
  await virt.shutdown();
  const missing = configCopy(
    "configuration-linux-container.toml",
    (t) => t.replace(/^oci_runtime = .*$/m, 'oci_runtime = "/nonexistent/runc"'),
  );
  const e = await assertRejects(() => factory(missing), ConfigError);
  assert(e.message.includes("is not an executable on PATH"), e.message);
  Deno.removeSync(missing.slice(0, missing.lastIndexOf("/")), { recursive: true });
});
