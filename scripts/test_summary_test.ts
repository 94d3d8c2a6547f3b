import { assertEquals, assertStringIncludes } from "../tests/assert.ts";
import {
  denoSummaryLine,
  parseSteps,
  type StepRecord,
  summarizeStep,
  total,
} from "./test_summary.ts";

const test = (rc: number, name = "deno task test"): StepRecord => ({
  kind: "test",
  name,
  rc,
  seconds: 10,
  log: "unused",
});

Deno.test("a green deno test step counts its passed and ignored tests", () => {
  const log =
    "a ... ok (1ms)\n\x1b[32mok\x1b[0m | 2 passed (1 step) | 0 failed | 1 ignored (16ms)\n";
  const r = summarizeStep(test(0), log);
  assertEquals([r.passed, r.failed, r.ignored, r.problem], [2, 0, 1, ""]);
});

Deno.test("a failing step counts its failures from the summary", () => {
  const r = summarizeStep(test(1), "FAILED | 2 passed (1 step) | 1 failed | 1 ignored (425ms)\n");
  assertEquals([r.passed, r.failed, r.ignored, r.problem], [2, 1, 1, ""]);
});

Deno.test("a step that ended without a summary line counts as one failed and says so", () => {
  const log = "running 3 tests from ./tests/vm/x_test.ts\nboots ... ok (30s)\n" +
    "testhost: the test host ended without an exit code (qemu exit 0); console tail:\n";
  const r = summarizeStep(test(125, "deno task test:vm"), log);
  assertEquals([r.passed, r.failed], [0, 1]);
  assertStringIncludes(r.line, "deno task test:vm");
  assertStringIncludes(r.problem, "crashed: no deno summary line");
  assertStringIncludes(r.problem, "the test host failed (rc 125)");
  assertStringIncludes(r.problem, "1 tests had reported ok");
});

Deno.test("a step killed by its time limit is named as timed out", () => {
  const r = summarizeStep(test(124), "a ... ok (1ms)\n");
  assertEquals(r.failed, 1);
  assertStringIncludes(r.problem, "timed out: no deno summary line");
  assertStringIncludes(summarizeStep(test(137), "").problem, "killed: no deno summary line");
});

Deno.test("a non-zero exit after a green (nested) summary still counts as a failure", () => {
  const r = summarizeStep(test(137), "ok | 5 passed | 0 failed (1s)\n");
  assertEquals([r.passed, r.failed], [5, 1]);
  assertStringIncludes(r.problem, "killed (SIGKILL, rc 137)");
});

Deno.test("the last summary of a step counts, not a nested one", () => {
  const log =
    "ok | 1 passed | 0 failed (1s)\nouter ... ok\nok | 7 passed | 0 failed | 2 ignored (9s)\n";
  const r = summarizeStep(test(0), log);
  assertEquals([r.passed, r.ignored], [7, 2]);
});

Deno.test("a failed check step counts as one failed", () => {
  const r = summarizeStep({ ...test(1, "deno task check"), kind: "check" }, "error: lint\n");
  assertEquals([r.passed, r.failed], [0, 1]);
  assertStringIncludes(r.line, "deno task check: 0 passed, 1 failed");
});

Deno.test("totals agree with the exit code: any bad step makes failed non-zero", () => {
  const results = [
    summarizeStep(test(0), "ok | 550 passed | 0 failed | 3 ignored (1s)\n"),
    summarizeStep(test(125, "vm"), "nothing\n"),
  ];
  assertEquals(total(results), { passed: 550, failed: 1, ignored: 3 });
});

Deno.test("the step file parses kind, rc, seconds, log and name", () => {
  assertEquals(parseSteps("test\t124\t1800\t/tmp/l/3.log\tdeno task test:vm\n"), [{
    kind: "test",
    rc: 124,
    seconds: 1800,
    log: "/tmp/l/3.log",
    name: "deno task test:vm",
  }]);
});

Deno.test("the summed line of per-file runs reads back as one step's counts", () => {
  // scripts/test-vm ends with this line; scripts/test-all reads the last summary of that step.
  const files = [
    summarizeStep(test(0, "a_test.ts"), "ok | 2 passed | 0 failed | 1 ignored (1s)\n"),
    summarizeStep(test(124, "b_test.ts"), "x ... ok (1s)\n"),
  ];
  const line = denoSummaryLine(total(files), "2 runs summed");
  assertEquals(line, "FAILED | 2 passed | 1 failed | 1 ignored (2 runs summed)");
  const outer = summarizeStep(test(1, "deno task test:vm"), `nested\n${line}\n`);
  assertEquals([outer.passed, outer.failed, outer.ignored], [2, 1, 1]);
  const green = denoSummaryLine({ passed: 3, failed: 0, ignored: 0 }, "1 runs summed");
  assertEquals(summarizeStep(test(0), green + "\n").problem, "");
});

Deno.test("a lone ok after a long-running warning counts as a test that reported ok", () => {
  const log = "slow test ...'slow test' has been running for over (1m0s)\n ok (1m40s)\n" +
    "next ...\n";
  const r = summarizeStep(test(1), log);
  assertStringIncludes(r.problem, "1 tests had reported ok");
});

Deno.test("a step that went wrong keeps the end of its output as evidence; a green one none", () => {
  const lines = Array.from({ length: 40 }, (_, i) => `line ${i}`);
  const crashed = summarizeStep(test(1), `${lines.join("\n")}\n\n`);
  assertEquals(crashed.evidence.split("\n"), lines.slice(-15));
  const green = summarizeStep(test(0), "a ... ok (1ms)\nok | 1 passed | 0 failed (1s)\n");
  assertEquals(green.evidence, "");
  const failed = summarizeStep(
    test(1),
    "noise\n FAILURES \n\nboots => ./tests/vm/x_test.ts:12:6\n\nFAILED | 0 passed | 1 failed (2s)\n",
  );
  assertEquals(
    failed.evidence,
    "boots => ./tests/vm/x_test.ts:12:6\nFAILED | 0 passed | 1 failed (2s)",
  );
  const wide = summarizeStep(test(1), `${"x".repeat(300)}\n`);
  assertEquals(wide.evidence, `${"x".repeat(200)}…`);
});

Deno.test("a failed step's evidence is each failure's header and the first lines of its error", () => {
  const log = [
    "running 2 tests from ./tests/vm/vmm_test.ts",
    " ERRORS ",
    "",
    "boots => ./tests/vm/vmm_test.ts:82:1",
    "error: AssertionError: Expected actual to include VMM-NPROC=2",
    "--- VMM serial console (tail) ---",
    "smp: Brought up 1 node, 1 CPU",
    "line four",
    "line five: left out",
    "    at assertStringIncludes (file:///x/assert.ts:3:9)",
    "",
    "./tests/vm/vmm_test.ts (uncaught error)",
    "error: (in promise) BadResource: Listener has been closed",
    "    at async Listener.accept (ext:deno_net/01_net.js:1:1)",
    "",
    " FAILURES ",
    "",
    "boots => ./tests/vm/vmm_test.ts:82:1",
    "",
    "FAILED | 0 passed | 2 failed (4m2s)",
    "testhost: the command exited 1",
  ].join("\n");
  const r = summarizeStep(test(1), log);
  assertEquals(r.evidence.split("\n"), [
    "boots => ./tests/vm/vmm_test.ts:82:1",
    "  error: AssertionError: Expected actual to include VMM-NPROC=2",
    "  --- VMM serial console (tail) ---",
    "  smp: Brought up 1 node, 1 CPU",
    "  line four",
    "./tests/vm/vmm_test.ts (uncaught error)",
    "  error: (in promise) BadResource: Listener has been closed",
  ]);
  const many = [" ERRORS ", ...Array.from({ length: 40 }, (_, i) => `t${i} => ./a_test.ts:${i}:1`)];
  const cut = summarizeStep(test(1), `${many.join("\n")}\nFAILED | 0 passed | 40 failed (1s)\n`);
  assertEquals(cut.evidence.split("\n").length, 31);
  assertStringIncludes(cut.evidence, "(10 more lines of errors left out)");
});
