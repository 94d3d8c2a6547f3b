/**
 * The closing summary of scripts/test-all (and scripts/test-vm --repeat):
 * per step its passed, failed and ignored counts from Deno's own summary
 * line, and which step was killed, timed out or crashed.
 *
 * A step whose log has no Deno summary line, or that exited non-zero while
 * its summary shows no failure (killed, crashed, or a nested `deno test`
 * printed the last summary), counts as one failed test, so that the closing
 * "N passed, N failed" line never reads green while the exit code is red:
 * the exit code is 1 exactly when the failed count is above zero.
 *
 * Usage: `deno run -R scripts/test_summary.ts STEPFILE`, where each line of
 * STEPFILE is `kind<TAB>rc<TAB>seconds<TAB>log path<TAB>name` and kind is
 * `test` (a `deno test` run) or `check` (anything else: no summary expected).
 * @module
 */

/** What one step of the run did. */
export interface StepRecord {
  kind: "test" | "check";
  name: string;
  rc: number;
  seconds: number;
  log: string;
}

/** Counts of one step (or of all steps), and what was wrong with it. */
export interface StepResult {
  name: string;
  passed: number;
  failed: number;
  ignored: number;
  seconds: number;
  rc: number;
  /** Why the step counts as failed beyond its own summary; empty when it does not. */
  problem: string;
  line: string;
  /**
   * The last lines of a step that went wrong (failed or with a problem),
   * empty otherwise: CI keeps only the end of the output, so the cause has
   * to be repeated there.
   */
  evidence: string;
}

/** The last non-empty lines of `lines`, each cut to a readable width. */
export function lastLines(lines: string[], n = EVIDENCE_LINES): string {
  return lines.map((l) => l.trimEnd()).filter((l) => l !== "").slice(-n)
    .map((l) => l.length > EVIDENCE_WIDTH ? `${l.slice(0, EVIDENCE_WIDTH)}…` : l).join("\n");
}

// deno test's summary: "ok | 12 passed (3 steps) | 0 failed | 1 ignored (1s)".
const SUMMARY =
  /^(ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed(?: \(\d+ steps?\))?(.*)$/;
const IGNORED = /\| (\d+) ignored/;
// deno test's per-test result lines ("name ... ok (12ms)"), and the lone
// " ok (1m40s)" deno prints on the next line after a "has been running" warning.
const TEST_OK = / \.\.\. ok(?: \(|$)|^\s+ok \(\d/;
/** How many lines of a failed step's log its evidence shows, and how wide. */
const EVIDENCE_LINES = 15;
const EVIDENCE_WIDTH = 200;
/** How many lines of each failure's error, and of all errors, a step's evidence shows. */
const CAUSE_LINES = 4;
const CAUSES_MAX = 30;

/** Strips ANSI colour codes (deno colours its output even into a pipe when asked). */
export function plain(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}

/** Why a command with exit code `rc` ended, in words ("" for a plain failure). */
export function endedHow(rc: number): string {
  if (rc === 124) return "timed out (killed by its time limit, rc 124)";
  if (rc === 137) return "killed (SIGKILL, rc 137)";
  if (rc === 143) return "terminated (SIGTERM, rc 143)";
  if (rc === 125) return "the test host failed (rc 125)";
  if (rc > 128) return `killed by signal ${rc - 128} (rc ${rc})`;
  return "";
}

/** Summarises one step from its log text. */
export function summarizeStep(step: StepRecord, log: string): StepResult {
  const lines = plain(log).split("\n");
  const base = { name: step.name, seconds: step.seconds, rc: step.rc };
  if (step.kind === "check") {
    const failed = step.rc === 0 ? 0 : 1;
    const problem = step.rc === 0 ? "" : `failed (${endedHow(step.rc) || `rc ${step.rc}`})`;
    const r = { ...base, passed: 0, failed, ignored: 0, problem };
    const evidence = step.rc === 0 ? "" : lastLines(lines);
    return { ...r, evidence, line: describe(r, step.rc === 0 ? "ok" : problem) };
  }
  // The last summary: a test that runs deno test in a child prints a nested one earlier.
  const summary = lines.map((l) => l.trim().match(SUMMARY)).filter((m) => m !== null).at(-1);
  if (!summary) {
    const oks = lines.filter((l) => TEST_OK.test(l)).length;
    const how = endedHow(step.rc) || (step.rc === 0 ? "exited 0" : `rc ${step.rc}`);
    const label = step.rc === 124 ? "timed out" : step.rc > 128 ? "killed" : "crashed";
    const problem = `${label}: no deno summary line (${how}; ${oks} tests had reported ok); ` +
      "counted as 1 failed";
    const r = { ...base, passed: 0, failed: 1, ignored: 0, problem };
    return { ...r, evidence: lastLines(lines), line: describe(r, problem) };
  }
  const passed = Number(summary[2]);
  let failed = Number(summary[3]);
  const ignored = Number(summary[4].match(IGNORED)?.[1] ?? 0);
  let problem = "";
  if (step.rc !== 0 && failed === 0) {
    failed = 1;
    problem = `ended with ${endedHow(step.rc) || `rc ${step.rc}`} although its last summary ` +
      "line shows no failure; counted as 1 failed";
  } else if (step.rc === 0 && failed > 0) {
    problem = `exited 0 although ${failed} failed`;
  } else if (step.rc !== 0 && endedHow(step.rc)) {
    problem = endedHow(step.rc);
  }
  const r = { ...base, passed, failed, ignored, problem };
  const causes = causeLines(lines);
  const evidence = failed > 0 || problem !== ""
    ? (causes.length > 0 ? clip(causes, CAUSES_MAX) : lastLines(failureLines(lines)))
    : "";
  return { ...r, evidence, line: describe(r, problem) };
}

/**
 * Each failure in deno's ERRORS sections: its header ("name => file:line" or
 * "file (uncaught error)") and the first lines of its error, stack frames
 * left out. CI keeps only the end of the output, and the FAILURES list alone
 * names what failed, not why.
 */
export function causeLines(lines: string[], perFailure = CAUSE_LINES): string[] {
  const out: string[] = [];
  let inErrors = false;
  let taking = 0;
  for (const line of lines) {
    const t = line.trim();
    if (t === "ERRORS" || t === "FAILURES" || SUMMARY.test(t)) {
      inErrors = t === "ERRORS";
      taking = 0;
    } else if (!inErrors || t === "") {
      continue;
    } else if (/ => \.\/\S+:\d+:\d+$/.test(t) || / \(uncaught error\)$/.test(t)) {
      out.push(t);
      taking = perFailure;
    } else if (taking > 0 && !t.startsWith("at ") && !/^\d+: /.test(t)) {
      out.push(`  ${t}`);
      taking--;
    }
  }
  return out;
}

/** `lines` cut to `n` (saying how many were left out) and to a readable width. */
function clip(lines: string[], n: number): string {
  const kept = lines.length > n
    ? [...lines.slice(0, n), `(${lines.length - n} more lines of errors left out)`]
    : lines;
  return lastLines(kept, kept.length);
}

/**
 * The lines that name a failure in a log with a summary: deno's FAILURES
 * section (test names with file:line) when there is one, else the whole log.
 */
function failureLines(lines: string[]): string[] {
  const at = lines.findLastIndex((l) => l.trim() === "FAILURES");
  return at < 0 ? lines : lines.slice(at + 1);
}

function describe(r: Omit<StepResult, "line" | "evidence">, note: string): string {
  const counts = `${r.passed} passed, ${r.failed} failed, ${r.ignored} ignored`;
  return `${r.name}: ${counts} (${r.seconds} s)${note && note !== "ok" ? `: ${note}` : ""}`;
}

/** Sums the steps; `failed` is above zero whenever any step went wrong. */
export function total(results: StepResult[]): { passed: number; failed: number; ignored: number } {
  return results.reduce(
    (t, r) => ({
      passed: t.passed + r.passed,
      failed: t.failed + r.failed,
      ignored: t.ignored + r.ignored,
    }),
    { passed: 0, failed: 0, ignored: 0 },
  );
}

/** Parses the step file that scripts/test-all writes. */
export function parseSteps(text: string): StepRecord[] {
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => {
    const [kind, rc, seconds, log, ...name] = l.split("\t");
    if (kind !== "test" && kind !== "check") throw new Error(`Unknown step kind ${kind}`);
    return { kind, rc: Number(rc), seconds: Number(seconds), log, name: name.join("\t") };
  });
}

/**
 * The sums in deno test's own summary format, so that a caller that reads
 * the last such line of a log (this file, for a step that ran many deno
 * test runs) counts them all.
 */
export function denoSummaryLine(
  t: { passed: number; failed: number; ignored: number },
  note: string,
): string {
  return `${t.failed > 0 ? "FAILED" : "ok"} | ${t.passed} passed | ${t.failed} failed | ` +
    `${t.ignored} ignored (${note})`;
}

if (import.meta.main) {
  // --as-deno-summary: end with the sums as one deno test summary line (the
  // per-file runs of scripts/test-vm) instead of the plain closing line.
  const asDeno = Deno.args[0] === "--as-deno-summary";
  const file = Deno.args[asDeno ? 1 : 0];
  if (!file) {
    console.error("usage: test_summary.ts [--as-deno-summary] STEPFILE");
    Deno.exit(2);
  }
  const results = parseSteps(Deno.readTextFileSync(file)).map((s) =>
    summarizeStep(
      s,
      (() => {
        try {
          return Deno.readTextFileSync(s.log);
        } catch {
          return "";
        }
      })(),
    )
  );
  console.log("==> summary per step");
  for (const r of results) console.log(`  ${r.line}`);
  const bad = results.filter((r) => r.problem !== "");
  if (bad.length > 0) {
    console.log(`==> steps that went wrong: ${bad.map((r) => r.name).join(", ")}`);
  }
  for (const r of results.filter((r) => r.evidence !== "")) {
    console.log(`==> the end of ${r.name}'s output:`);
    console.log(r.evidence.split("\n").map((l) => `  | ${l}`).join("\n"));
  }
  const t = total(results);
  if (asDeno) {
    console.log(denoSummaryLine(t, `${results.length} runs summed`));
    Deno.exit(t.failed > 0 ? 1 : 0);
  }
  console.log(`==> ${t.ignored} ignored in all`);
  // The closing line CI reads, plain: "N passed, N failed".
  console.log(`${t.passed} passed, ${t.failed} failed`);
  Deno.exit(t.failed > 0 ? 1 : 0);
}
