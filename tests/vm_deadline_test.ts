/**
 * The VM tests' deadline helper (tests/vm/deadline.ts), tested without a VM:
 * a planted hang (a test waiting on a socket nobody opens) fails that test
 * alone within its deadline, naming the wait, and the tests after it still
 * run; and the VM group's deadlines add up to less than the test host's bound.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./assert.ts";
import { DeadlineError, fileDeadlineProblem, tail, until, withDeadline } from "./vm/deadline.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

Deno.test("a wait on a socket nobody opens fails at its deadline, naming the wait and the evidence", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rts-deadline-" });
  const listener = Deno.listen({ transport: "unix", path: `${dir}/nobody.sock` });
  let cleaned = false;
  const started = performance.now();
  try {
    const err = await assertRejects(
      () =>
        withDeadline("planted", 500, async (ctx) => {
          ctx.step(`a connection on ${dir}/nobody.sock`);
          ctx.evidence("guest console", () => "line 1\nsmp: Brought up 1 node, 1 CPU\n");
          ctx.onDeadline(() => listener.close());
          try {
            await listener.accept();
          } finally {
            cleaned = true;
          }
        }, 5_000),
      DeadlineError,
    );
    const elapsed = performance.now() - started;
    // Without the deadline the accept would wait forever; the bound is loose for a loaded machine.
    assert(elapsed < 15_000, `failed after ${elapsed} ms, deadline 500 ms`);
    assertStringIncludes(
      err.message,
      "passed its deadline of 1 s while waiting for a connection on",
    );
    assertStringIncludes(err.message, "nobody.sock");
    assertStringIncludes(err.message, "--- guest console (tail) ---\nline 1\nsmp: Brought up");
    assertEquals(err.waitingFor, `a connection on ${dir}/nobody.sock`);
    assert(cleaned, "the body's finally ran after the deadline hook closed the listener");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a body that finishes in time passes and its failures stay its own", async () => {
  await withDeadline("quick", 5_000, async (ctx) => {
    ctx.step("nothing");
    await new Promise((r) => setTimeout(r, 10));
  });
  await assertRejects(
    () =>
      withDeadline("fails", 5_000, () => {
        throw new Error("own failure");
      }),
    Error,
    "own failure",
  );
});

Deno.test("until() polls a check and gives up when the deadline's signal aborts", async () => {
  let n = 0;
  assertEquals(
    await until("three polls", () => ++n >= 3 ? n : undefined, new AbortController().signal, 1),
    3,
  );
  const abort = new AbortController();
  setTimeout(() => abort.abort(new Error("deadline")), 50);
  await assertRejects(
    () => until("a file", () => undefined, abort.signal, 10),
    Error,
    "Gave up waiting for a file",
  );
});

Deno.test("tail() keeps the end of long evidence", () => {
  assertEquals(tail("short"), "short");
  const t = tail("x".repeat(100) + "\nlast line", 20);
  assert(t.startsWith("[...]") && t.endsWith("last line"), t);
});

Deno.test("a planted hang in a group fails that test alone within its deadline; the next test runs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rts-deadline-group-" });
  try {
    // Not a *_test.ts file in the tree: written here, run once, removed.
    await Deno.writeTextFile(
      `${dir}/group_test.ts`,
      `import { vmTest } from ${JSON.stringify(`${ROOT}/tests/vm/deadline.ts`)};
vmTest({ name: "planted hang", deadlineMs: 2000, graceMs: 500 }, async (ctx) => {
  const l = Deno.listen({ transport: "unix", path: ${JSON.stringify(`${dir}/nobody.sock`)} });
  ctx.step("a connection on nobody.sock");
  ctx.evidence("console", () => "the last console line");
  await l.accept(); // nobody connects, and no deadline hook closes it
});
vmTest({ name: "the next test", deadlineMs: 10000 }, async (ctx) => {
  ctx.step("a short sleep");
  await new Promise((r) => setTimeout(r, 10));
  console.log("NEXT-TEST-RAN");
});
`,
    );
    const started = performance.now();
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["test", "-A", "--no-check", `${dir}/group_test.ts`],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
      signal: AbortSignal.timeout(60_000),
    }).output();
    const seconds = (performance.now() - started) / 1000;
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 1, text);
    assertStringIncludes(text, "NEXT-TEST-RAN");
    assertStringIncludes(text, "the next test ... ok");
    assertStringIncludes(text, "planted hang ... FAILED");
    assertStringIncludes(
      text,
      "passed its deadline of 2 s while waiting for a connection on nobody.sock",
    );
    assertStringIncludes(text, "the last console line");
    assert(/FAILED \| 1 passed \| 1 failed/.test(text), text);
    // Deno's start-up plus the 2 s deadline and 0.5 s grace; loose for a loaded machine
    // (without the deadline the planted test would hang until the 60 s abort above).
    assert(seconds < 50, `the group took ${seconds} s`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the VM tests' deadlines add up to less than the test host's bound for the group", async () => {
  let sum = 0;
  const missing: string[] = [];
  for await (const e of Deno.readDir(`${ROOT}/tests/vm`)) {
    if (!e.name.endsWith("_test.ts")) continue;
    const src = await Deno.readTextFile(`${ROOT}/tests/vm/${e.name}`);
    const tests = [...src.matchAll(/\bDeno\.test\(/g)].length;
    if (tests > 0) missing.push(`${e.name} uses Deno.test directly`);
    for (const m of src.matchAll(/deadlineMs: ([\d_]+)/g)) sum += Number(m[1].replaceAll("_", ""));
    if (!/vmTest\(/.test(src)) missing.push(`${e.name} has no vmTest`);
  }
  assertEquals(missing, [], "every VM test runs under a deadline (tests/vm/deadline.ts)");
  // scripts/test-vm bounds each file's test host by lib.sh's vm_file_bound; vm_group_bound sums them.
  const out = await new Deno.Command("bash", {
    args: ["-c", `. ${ROOT}/scripts/lib.sh && vm_group_bound ${ROOT}/tests/vm/*_test.ts`],
    stdout: "piped",
  }).output();
  const bound = Number(new TextDecoder().decode(out.stdout).trim());
  assert(
    sum > 0 && bound * 1000 > sum + 300_000,
    `deadlines sum to ${sum / 1000} s; the test host bound is ${bound} s`,
  );
  const script = await Deno.readTextFile(`${ROOT}/scripts/test-vm`);
  assert(
    script.includes("TESTHOST_TIMEOUT:-$(vm_file_bound"),
    "test-vm bounds each file by vm_file_bound",
  );
});

Deno.test("a file whose tests outrun the deadlines in its text refuses to load, naming the sums", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rts-deadline-loop-" });
  try {
    // Two tests registered in a loop under one literal deadline: lib.sh counts
    // 3 s for the file, the tests need 6 s.
    const file = `${dir}/loop_test.ts`;
    await Deno.writeTextFile(
      file,
      `import { vmTest } from ${JSON.stringify(`${ROOT}/tests/vm/deadline.ts`)};
for (const n of ["one", "two"]) {
  vmTest({ name: \`loop \${n}\`, deadlineMs: 3_000 }, async () => {});
}
`,
    );
    const budget = await new Deno.Command("bash", {
      args: ["-c", `. ${ROOT}/scripts/lib.sh && vm_file_deadlines ${file}`],
      stdout: "piped",
    }).output();
    const budgetS = new TextDecoder().decode(budget.stdout).trim();
    assertEquals(budgetS, "3");
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["test", "-A", "--no-check", file],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", VM_FILE_DEADLINES_S: budgetS },
      signal: AbortSignal.timeout(60_000),
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 1, text);
    assertStringIncludes(
      text,
      `VM test "loop two" takes this file's deadlines to 6 s, above the 3 s`,
    );
    assert(!text.includes("loop one ... ok"), text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fileDeadlineProblem() allows a file within its budget and names a bad budget", () => {
  assertEquals(fileDeadlineProblem("t", 5_000, undefined), undefined);
  assertEquals(fileDeadlineProblem("t", 5_000, "5"), undefined);
  assertStringIncludes(fileDeadlineProblem("t", 5_001, "5") ?? "", "above the 5 s");
  assertStringIncludes(fileDeadlineProblem("t", 1, "soon") ?? "", '"soon"');
});

Deno.test("a test that fails before its deadline shows its evidence with its own error", async () => {
  const err = await assertRejects(
    () =>
      withDeadline("early failure", 10_000, async (ctx) => {
        ctx.evidence("guest console", () => "[    1.2] agent: listening on vsock port 1024");
        await Promise.resolve();
        throw new Error("ctr run -d failed: agent unavailable");
      }),
    Error,
    "ctr run -d failed: agent unavailable",
  );
  assertStringIncludes(err.message, "--- guest console (tail) ---");
  assertStringIncludes(err.message, "agent: listening on vsock port 1024");
  assert(!(err instanceof DeadlineError), "an early failure is not a deadline failure");
});
