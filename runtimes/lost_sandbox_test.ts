import { assert, assertEquals, assertRejects } from "../tests/assert.ts";
import { UnimplementedError } from "../common/errors.ts";
import { StateStore } from "../persist/state_store.ts";
import { cleanupLostSandbox } from "./lost_sandbox.ts";
import { exists } from "../common/fs.ts";

Deno.test("crash clean-up without a state removes the sandbox directory", async () => {
  const root = Deno.makeTempDirSync({ prefix: "manager-root-" });
  const bundle = Deno.makeTempDirSync({ prefix: "manager-bundle-" });
  Deno.mkdirSync(`${root}/sb1/leftover`, { recursive: true });
  await cleanupLostSandbox("sb1", bundle, root);
  assertEquals(exists(`${root}/sb1`), false);
  Deno.removeSync(root, { recursive: true });
  Deno.removeSync(bundle, { recursive: true });
});

Deno.test("crash clean-up of a runtime without one fails and keeps its state", async () => {
  const root = Deno.makeTempDirSync({ prefix: "manager-root-" });
  const store = new StateStore({ root });
  await store.save({ sandbox_id: "sb2", runtime: "wasm_container" });
  const e = await assertRejects(
    () => cleanupLostSandbox("sb2", "/nonexistent-bundle", root),
    UnimplementedError,
  );
  assert(e.message.includes("wasm_container"), e.message);
  assert(exists(store.pathOf("sb2")), "the state stays for a later clean-up");
  Deno.removeSync(root, { recursive: true });
});

Deno.test("crash clean-up of a VM sandbox made with keep_abnormal keeps everything for debugging", async () => {
  const root = Deno.makeTempDirSync({ prefix: "manager-root-" });
  const store = new StateStore({ root });
  await store.save({
    sandbox_id: "sb3",
    runtime: "virt_container",
    resources: { debug: { keep_abnormal: true } },
  });
  Deno.mkdirSync(`${root}/sb3/shared/c1`, { recursive: true });
  Deno.writeTextFileSync(`${root}/sb3/shared/c1/evidence`, "kept");
  await cleanupLostSandbox("sb3", "/nonexistent-bundle", root);
  assertEquals(Deno.readTextFileSync(`${root}/sb3/shared/c1/evidence`), "kept");
  assert(exists(store.pathOf("sb3")), "the state stays");
  // Without the flag the same state is cleaned up.
  await store.save({ sandbox_id: "sb3", runtime: "virt_container" });
  await cleanupLostSandbox("sb3", "/nonexistent-bundle", root);
  assertEquals(exists(`${root}/sb3`), false);
  Deno.removeSync(root, { recursive: true });
});
