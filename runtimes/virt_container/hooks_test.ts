import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { DeadlineExceededError, FailedPreconditionError } from "../../common/errors.ts";
import { hooksOf, type OciState, runHook, runHooks } from "./hooks.ts";

const STATE: OciState = {
  ociVersion: "1.0.2",
  id: "sb1",
  status: "creating",
  pid: 1234,
  bundle: "/b",
};

function script(dir: string, name: string, body: string): string {
  const p = `${dir}/${name}`;
  Deno.writeTextFileSync(p, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return p;
}

Deno.test("a hook gets the OCI state on stdin, its args after args[0], and only its env", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const out = `${dir}/out`;
    const path = script(
      dir,
      "hook",
      `cat > ${out}.state; echo "$0|$1|$2|$FOO|\${HOME:-nohome}" > ${out}.args`,
    );
    await runHook({ path, args: ["myhook", "a", "b"], env: ["FOO=bar"] }, STATE, "prestart");
    assertEquals(JSON.parse(Deno.readTextFileSync(`${out}.state`)), STATE);
    // argv[0] of a shell script is the script path; the hook's own args follow.
    assertEquals(Deno.readTextFileSync(`${out}.args`).trim(), `${path}|a|b|bar|nohome`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("hooks run in order and the first failure stops the rest", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const log = `${dir}/log`;
    const one = script(dir, "one", `echo one >> ${log}`);
    const bad = script(dir, "bad", `echo bad >> ${log}; echo broken >&2; exit 3`);
    const three = script(dir, "three", `echo three >> ${log}`);
    const e = await assertRejects(
      () => runHooks([{ path: one }, { path: bad }, { path: three }], STATE, "createRuntime"),
      FailedPreconditionError,
    );
    assertEquals(
      e.message,
      `createRuntime hook ${bad} failed with exit code 3: broken`,
    );
    assertEquals(Deno.readTextFileSync(log), "one\nbad\n");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a hook that outlives its timeout is killed", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const slow = script(dir, "slow", "exec sleep 30");
    await assertRejects(
      () => runHook({ path: slow, timeout: 1 }, STATE, "prestart"),
      DeadlineExceededError,
      "timed out after 1 s",
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a missing hook binary is a clear error", async () => {
  await assertRejects(
    () => runHook({ path: "/nonexistent/hook" }, STATE, "prestart"),
    FailedPreconditionError,
    "prestart hook /nonexistent/hook",
  );
});

Deno.test("hooksOf reads a kind's list and tolerates absence", () => {
  assertEquals(hooksOf({}, "prestart"), []);
  assertEquals(hooksOf({ hooks: { prestart: [{ path: "/x" }] } }, "prestart"), [{ path: "/x" }]);
  assertEquals(hooksOf({ hooks: { prestart: "nope" } }, "prestart"), []);
});
