import { assert, assertEquals, assertRejects, assertStringIncludes } from "../tests/assert.ts";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../common/errors.ts";
import { PERSIST_ROOT_ENV, StateStore, writeAtomic } from "./state_store.ts";

async function withStore(fn: (store: StateStore, root: string) => Promise<void>) {
  const root = await Deno.makeTempDir({ prefix: "persist-test-" });
  try {
    await fn(new StateStore({ root }), root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

Deno.test("round-trip keeps every part, fills version, defaults and timestamps", async () => {
  await withStore(async (store, root) => {
    const saved = await store.save({
      sandbox_id: "sb1",
      runtime: "virt_container",
      hypervisor: { hypervisor_type: "qemu", pid: 42, jailed: false, config: { a: [1, 2] } },
      containers: [{
        id: "c1",
        bundle: "/run/b/c1",
        pid: 100,
        status: "running",
        execs: [{ id: "e1", pid: 101, status: "running" }],
      }],
      network_endpoints: [{ tap: { if_name: "tap0_kata" } }],
      resources: { cgroup: { path: "/kata/sb1", sandbox_cgroup_only: true } },
    });
    assertEquals(saved.version, 1);
    assertEquals(saved.containers[0].exit_status, null);
    assertEquals(saved.containers[0].execs[0].extra, {});
    const loaded = await store.load("sb1");
    assertEquals(loaded, saved);
    assertEquals(store.pathOf("sb1"), `${root}/sb1/state.json`);
    // Upstream writes pretty JSON; so do we (readable by hand while debugging).
    assertStringIncludes(await Deno.readTextFile(`${root}/sb1/state.json`), '\n  "version": 1');
    assertEquals(await store.list(), ["sb1"]);
  });
});

Deno.test("saving again keeps created_at and replaces the content", async () => {
  await withStore(async (store, root) => {
    const first = await store.save({ sandbox_id: "sb", runtime: "linux_container" });
    const second = await store.save({
      sandbox_id: "sb",
      runtime: "linux_container",
      containers: [{ id: "c", bundle: "/b" }],
    });
    assertEquals(second.created_at, first.created_at);
    assertEquals((await store.load("sb")).containers.map((c) => c.id), ["c"]);
    // No temporary file is left behind.
    assertEquals(await entries(`${root}/sb`), ["state.json"]);
  });
});

Deno.test("a missing state file is NotFoundError naming the file", async () => {
  await withStore(async (store, root) => {
    const e = await assertRejects(() => store.load("nope"), NotFoundError);
    assertStringIncludes(e.message, `${root}/nope/state.json`);
  });
});

Deno.test("a corrupt (non-JSON) state file is a clear error naming the file", async () => {
  await withStore(async (store, root) => {
    await Deno.mkdir(`${root}/bad`);
    await Deno.writeTextFile(`${root}/bad/state.json`, '{"version": 1, "sandbox_id": "ba');
    const e = await assertRejects(() => store.load("bad"), FailedPreconditionError);
    assertStringIncludes(e.message, `${root}/bad/state.json`);
    assertStringIncludes(e.message, "corrupt");
  });
});

Deno.test("a state file of another version is refused as foreign", async () => {
  await withStore(async (store, root) => {
    await Deno.mkdir(`${root}/old`);
    await Deno.writeTextFile(
      `${root}/old/state.json`,
      JSON.stringify({ version: 7, sandbox_id: "old" }),
    );
    const e = await assertRejects(() => store.load("old"), FailedPreconditionError);
    assertStringIncludes(e.message, `${root}/old/state.json`);
    assertStringIncludes(e.message, "version 7");
  });
});

Deno.test("upstream's own state.json shape (no version) is refused as foreign", async () => {
  await withStore(async (store, root) => {
    await Deno.mkdir(`${root}/up`);
    await Deno.writeTextFile(
      `${root}/up/state.json`,
      JSON.stringify({ sandbox_type: "virt_container", resource: {}, hypervisor: {} }),
    );
    const e = await assertRejects(() => store.load("up"), FailedPreconditionError);
    assertStringIncludes(e.message, "foreign");
  });
});

Deno.test("a right-version file of the wrong shape is refused, naming the bad field", async () => {
  await withStore(async (store, root) => {
    await Deno.mkdir(`${root}/shape`);
    await Deno.writeTextFile(
      `${root}/shape/state.json`,
      JSON.stringify({
        version: 1,
        sandbox_id: "shape",
        runtime: "virt_container",
        containers: [{ id: "c", bundle: "/b", pid: "not-a-number" }],
        created_at: "x",
        updated_at: "x",
      }),
    );
    const e = await assertRejects(() => store.load("shape"), FailedPreconditionError);
    assertStringIncludes(e.message, "containers.0.pid");
  });
});

Deno.test("a state file stored under another sandbox's directory is refused", async () => {
  await withStore(async (store, root) => {
    await store.save({ sandbox_id: "a", runtime: "virt_container" });
    await Deno.mkdir(`${root}/b`);
    await Deno.copyFile(`${root}/a/state.json`, `${root}/b/state.json`);
    const e = await assertRejects(() => store.load("b"), FailedPreconditionError);
    assertStringIncludes(e.message, "belongs to sandbox a");
  });
});

Deno.test("invalid state is refused before anything is written", async () => {
  await withStore(async (store, root) => {
    await assertRejects(
      // @ts-expect-error: deliberately wrong type
      () => store.save({ sandbox_id: "x", runtime: "virt_container", containers: [{ id: 3 }] }),
      InvalidArgumentError,
    );
    assertEquals(await entries(root), []);
  });
});

Deno.test("a failed write leaves the old file intact and no temporary file", async () => {
  await withStore(async (store, root) => {
    await store.save({ sandbox_id: "keep", runtime: "virt_container" });
    const before = await Deno.readTextFile(`${root}/keep/state.json`);
    // Renaming a file over a non-empty directory fails: simulate it on a sibling target.
    await Deno.mkdir(`${root}/keep/blocked`);
    await Deno.writeTextFile(`${root}/keep/blocked/x`, "x");
    await assertRejects(() => writeAtomic(`${root}/keep/blocked`, "new content"));
    assertEquals(await entries(`${root}/keep`), ["blocked", "state.json"]);
    assertEquals(await Deno.readTextFile(`${root}/keep/state.json`), before);
  });
});

Deno.test("sandbox ids that would escape the root are refused", async () => {
  await withStore(async (store) => {
    for (const id of ["..", "../x", "a/b", "", ".hidden"]) {
      const e = await assertRejects(
        () => store.save({ sandbox_id: id, runtime: "virt_container" }),
        InvalidArgumentError,
      );
      assertStringIncludes(e.message, "Sandbox id");
    }
  });
});

Deno.test("remove deletes the sandbox directory; removing twice is fine", async () => {
  await withStore(async (store, root) => {
    await store.save({ sandbox_id: "gone", runtime: "virt_container" });
    await Deno.writeTextFile(`${root}/gone/extra-file`, "owned by the sandbox");
    await store.remove("gone");
    assert(!(await store.exists("gone")));
    assertEquals(await entries(root), []);
    await store.remove("gone");
    assertEquals(await store.list(), []);
  });
});

Deno.test("the root defaults to KATA_PERSIST_ROOT, then /run/kata", () => {
  const old = Deno.env.get(PERSIST_ROOT_ENV);
  try {
    Deno.env.set(PERSIST_ROOT_ENV, "/tmp/somewhere");
    assertEquals(new StateStore().root, "/tmp/somewhere");
    Deno.env.delete(PERSIST_ROOT_ENV);
    assertEquals(new StateStore().root, "/run/kata");
    assertEquals(new StateStore({ root: "/x" }).root, "/x");
  } finally {
    if (old === undefined) Deno.env.delete(PERSIST_ROOT_ENV);
    else Deno.env.set(PERSIST_ROOT_ENV, old);
  }
});
