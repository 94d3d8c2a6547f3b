/**
 * A deadline for each VM test, so that one hang fails one test instead of
 * the whole group (the test host's own time-out, TESTHOST_TIMEOUT, ends
 * everything at once and says nothing about what hung).
 *
 * {@link vmTest} registers a Deno test whose body gets a {@link VmTestContext}:
 * the test names each wait with `step()` (printed with the time since the
 * test's start, so a slow test shows where its time goes), registers where
 * its evidence lives (`evidence()`: the guest console's tail, a log) and
 * what must be stopped when time is up (`onDeadline()`: kill the VMM, close
 * a listener). When the
 * deadline passes, the context's `signal` aborts, the deadline hooks run,
 * the body gets a grace period to unwind through its own `finally` clean-up,
 * and the test fails with a {@link DeadlineError} naming the step it was in,
 * how long it had been in it, and the evidence.
 * @module
 */

/** What a VM test's body gets. */
export interface VmTestContext {
  /** Aborted when the deadline passes: hand it to waits that accept a signal. */
  readonly signal: AbortSignal;
  /** Names what the test waits for from now on; the deadline's failure names it. */
  step(what: string): void;
  /** Adds evidence shown when the deadline passes (e.g. the guest console's tail). */
  evidence(name: string, read: () => string | Promise<string>): void;
  /** Runs when the deadline passes, before the failure is reported (kill, close). */
  onDeadline(fn: () => unknown): void;
}

/** A VM test's definition: Deno's test options plus its deadline. */
export interface VmTestDefinition {
  name: string;
  /** The whole test's bound, in ms; it fails when this passes. */
  deadlineMs: number;
  ignore?: boolean;
  /**
   * Set on a test that has not yet passed in the test host: the group skips it
   * (printing this reason) unless TEST_VM_UNVERIFIED=1 asks for it, so a new
   * test that is still red does not fail every landing. Remove it once green.
   */
  unverified?: string;
  /** Time the body gets to run its own clean-up after the deadline (default 30 s). */
  graceMs?: number;
  sanitizeOps?: boolean;
  sanitizeResources?: boolean;
}

/** A test that ran past its deadline. */
export class DeadlineError extends Error {
  constructor(
    readonly test: string,
    readonly deadlineMs: number,
    readonly waitingFor: string,
    message: string,
  ) {
    super(message);
    this.name = "DeadlineError";
  }
}

/** How much of each piece of evidence a failure shows (the tail holds the cause). */
const EVIDENCE_TAIL_CHARS = 4000;
const HOOK_TIMEOUT_MS = 15_000;

/** The tail of `text`: its last `chars` characters, cut at a line start. */
export function tail(text: string, chars = EVIDENCE_TAIL_CHARS): string {
  if (text.length <= chars) return text;
  const cut = text.slice(-chars);
  const nl = cut.indexOf("\n");
  return `[...]${nl >= 0 && nl < 200 ? cut.slice(nl) : cut}`;
}

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Runs `fn` with a deadline of `deadlineMs` (see the module doc). Exported
 * apart from {@link vmTest} for the helper's own tests.
 */
export async function withDeadline(
  name: string,
  deadlineMs: number,
  fn: (ctx: VmTestContext) => Promise<void>,
  graceMs = 30_000,
): Promise<void> {
  const abort = new AbortController();
  const started = performance.now();
  let step = "the test's start";
  let stepSince = started;
  const evidence: [string, () => string | Promise<string>][] = [];
  const hooks: (() => unknown)[] = [];
  const ctx: VmTestContext = {
    signal: abort.signal,
    step(what) {
      // Each step's start, timed from the test's: where a slow test's time goes.
      const at = performance.now();
      console.log(`  [${((at - started) / 1000).toFixed(1)} s] ${what}`);
      step = what;
      stepSince = at;
    },
    evidence(label, read) {
      evidence.push([label, read]);
    },
    onDeadline(hook) {
      hooks.push(hook);
    },
  };
  const body = fn(ctx);
  body.catch(() => {}); // settled below either way
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"expired">((r) => timer = setTimeout(() => r("expired"), deadlineMs));
  const readEvidence = async (): Promise<string[]> => {
    const parts: string[] = [];
    for (const [label, read] of evidence) {
      const text = await bounded(Promise.resolve().then(read), HOOK_TIMEOUT_MS, label)
        .catch((e) => `(could not read: ${e})`);
      parts.push(`--- ${label} (tail) ---\n${tail(text)}`);
    }
    return parts;
  };
  try {
    const first = await Promise.race([body.then(() => "done" as const), expired]);
    if (first === "done") return;
  } catch (e) {
    // A failure before the deadline shows the same evidence: a guest that
    // never answered says why only in its console.
    const parts = await readEvidence();
    if (parts.length === 0) throw e;
    throw new Error(`${e instanceof Error ? e.message : e}\n${parts.join("\n")}`, { cause: e });
  } finally {
    clearTimeout(timer);
  }
  // The deadline passed: stop what the body waits on, then let it unwind.
  const inStep = Math.round((performance.now() - stepSince) / 1000);
  const waitingFor = step;
  abort.abort(new Error(`Deadline of ${deadlineMs} ms passed while waiting for ${waitingFor}`));
  const notes: string[] = [];
  for (const hook of hooks) {
    await bounded(Promise.resolve().then(hook), HOOK_TIMEOUT_MS, "a deadline hook").catch((e) =>
      notes.push(`deadline hook failed: ${e}`)
    );
  }
  const unwound = await bounded(body.then(() => "ok", (e) => `failed: ${e}`), graceMs, "clean-up")
    .catch(() => `still running after the ${graceMs} ms grace period (its clean-up may be lost)`);
  notes.push(`the test body then ${unwound === "ok" ? "returned" : unwound}`);
  const parts = [
    `Test "${name}" passed its deadline of ${Math.round(deadlineMs / 1000)} s ` +
    `while waiting for ${waitingFor} (for ${inStep} s)`,
    ...notes,
  ];
  parts.push(...await readEvidence());
  throw new DeadlineError(name, deadlineMs, waitingFor, parts.join("\n"));
}

/**
 * Why a file whose vmTest deadlines add up to `totalMs` cannot run in a test
 * host given `budgetS` seconds for them; undefined where it can (or where no
 * budget is set: outside scripts/test-vm's test hosts). scripts/test-vm
 * bounds each file's test host by the literal `deadlineMs: N` in its text
 * (lib.sh vm_file_deadlines, passed as VM_FILE_DEADLINES_S). A loop that
 * registered two tests under one literal was counted once, and the test
 * host's time-out then ended the file before the second test's own deadline
 * could say what it waited for.
 */
export function fileDeadlineProblem(
  name: string,
  totalMs: number,
  budgetS: string | undefined,
): string | undefined {
  if (budgetS === undefined || budgetS === "") return undefined;
  const budgetMs = Number(budgetS) * 1000;
  if (!Number.isFinite(budgetMs)) {
    return `VM_FILE_DEADLINES_S is not a number of seconds: "${budgetS}"`;
  }
  if (totalMs <= budgetMs) return undefined;
  return `VM test "${name}" takes this file's deadlines to ${totalMs / 1000} s, above the ` +
    `${budgetMs / 1000} s its test host was given (the literal deadlineMs values in the ` +
    "file's text): give each vmTest call its own literal deadlineMs";
}

/** The deadlines registered by {@link vmTest} in this process so far, in ms. */
let registeredMs = 0;

/** Registers a Deno test bounded by its own deadline (see the module doc). */
export function vmTest(def: VmTestDefinition, fn: (ctx: VmTestContext) => Promise<void>): void {
  registeredMs += def.deadlineMs;
  const problem = fileDeadlineProblem(def.name, registeredMs, Deno.env.get("VM_FILE_DEADLINES_S"));
  if (problem !== undefined) throw new Error(problem);
  const skipUnverified = def.unverified !== undefined &&
    Deno.env.get("TEST_VM_UNVERIFIED") !== "1";
  if (skipUnverified && !def.ignore) {
    console.log(
      `ignored (not yet green; TEST_VM_UNVERIFIED=1 runs it): ${def.name}: ${def.unverified}`,
    );
  }
  Deno.test({
    name: def.name,
    ignore: def.ignore || skipUnverified,
    // A body that hung past its deadline may leave a pending op behind; the
    // deadline's own message is the failure to read, not the sanitizer's.
    sanitizeOps: def.sanitizeOps ?? false,
    sanitizeResources: def.sanitizeResources ?? false,
    fn: () => withDeadline(def.name, def.deadlineMs, fn, def.graceMs),
  });
}

/**
 * Waits until `check()` returns a value (not undefined), polling every
 * `intervalMs`, or throws when `signal` aborts, naming `what`.
 */
export async function until<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  signal: AbortSignal,
  intervalMs = 200,
): Promise<T> {
  for (;;) {
    if (signal.aborted) throw new Error(`Gave up waiting for ${what}: ${signal.reason}`);
    const v = await check();
    if (v !== undefined) return v;
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, intervalMs);
      function done() {
        clearTimeout(t);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });
  }
}

/** A process's start time (clock ticks since boot, /proc/PID/stat field 22). */
async function startTime(pid: string): Promise<string | undefined> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
}

/**
 * Sends SIGKILL to this test's own stray client processes: those whose
 * executable's name is `exe` and whose command line includes `marker` (e.g.
 * `ctr` with this containerd's socket path). Each is identified by pid, start
 * time and executable, re-read right before the kill. Returns the killed pids.
 */
export async function killClients(exe: string, marker: string): Promise<number[]> {
  const killed: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const path = await Deno.readLink(`/proc/${e.name}/exe`).catch(() => "");
    if (path.split("/").at(-1) !== exe) continue;
    const cmdline = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    if (!cmdline.split("\0").includes(marker)) continue;
    const before = await startTime(e.name);
    if (before === undefined || (await startTime(e.name)) !== before) continue;
    try {
      Deno.kill(Number(e.name), "SIGKILL");
      killed.push(Number(e.name));
    } catch { /* it ended meanwhile */ }
  }
  return killed;
}
