/**
 * The error-message style rule (docs/architecture.md, "Errors and the RPC boundary"): a thrown
 * message starts with an uppercase letter, as Deno's standard library
 * writes them, unless it starts with a code name that must keep its case (a
 * syscall, command or configuration key: `waitpid`, `runc`, `shared_fs`,
 * `bzImage`). ConnectErrors are exempt: their text is ttRPC's wire format
 * (Go ttrpc's exact lowercase messages).
 *
 * A second rule: product code builds domain errors (`common/errors.ts`, or a
 * module's own class such as `SysError` or `FfiError` in `ffi/`), never one of
 * JavaScript's built-in classes (`Error`, `RangeError`, `TypeError`,
 * `AggregateError`, ...), thrown or not, so every failure carries the status
 * code the RPC boundary sends. A third: every error class of the product
 * carries that code (declares `code`, or extends a class that does).
 * @module
 */

/**
 * Code names a message may start with, in their own case (syscalls, commands,
 * tools). Only names that are not English words: "read failed" is a sentence
 * and must start uppercase.
 */
export const CODE_NAMES: ReadonlySet<string> = new Set([
  "accept4",
  "fid",
  "mmap",
  "msize",
  "recv",
  "recvmsg",
  "rtnetlink",
  "runc",
  "ttrpc",
  "vsock",
  "waitpid",
]);

/** Whether a message's first word is a code name (has `_`, a digit, an inner capital, or is listed). */
export function startsWithCodeName(message: string): boolean {
  const word = (message.match(/^[^\s"'`$(]*/)?.[0] ?? "").replace(/[:,]$/, "");
  return CODE_NAMES.has(word) || /[A-Z_0-9./]/.test(word);
}

/** One thrown message literal that breaks the rule. */
export interface StyleViolation {
  file: string;
  line: number;
  message: string;
}

/** An error built with a message literal (thrown, rejected or kept), or an error class's `super(`. */
const THROW = /(?:\bnew (\w*Error)|\bsuper)\(\s*(["'`])([^"'`]*)/g;

/**
 * Error classes whose first argument is not a message: ConnectError's text is
 * ttRPC's wire format (Go ttrpc's exact lowercase messages); SysError and
 * NetlinkError take the failed system call or netlink operation (`read`,
 * `get link eth0`), which their message quotes as it is.
 */
const NOT_A_MESSAGE: ReadonlySet<string> = new Set(["ConnectError", "SysError", "NetlinkError"]);

/** Errors whose message is their second argument (after a status name, an errno or the failures). */
const SECOND_ARG =
  /\bnew (FfiError|P9Error|PeerStatusError|MultipleErrors)\([^,()]*,\s*(["'`])([^"'`]*)/g;

/**
 * The error messages of `files` (path → source) that start lowercase without
 * a code name: every `new …Error("…")` (thrown or not) and every `super("…")`
 * (in product code only error classes pass a message literal to super).
 */
export function lowercaseMessages(files: ReadonlyMap<string, string>): StyleViolation[] {
  const out: StyleViolation[] = [];
  for (const [file, src] of files) {
    const found = [...src.matchAll(THROW), ...src.matchAll(SECOND_ARG)];
    for (const m of found.sort((a, b) => a.index - b.index)) {
      if (NOT_A_MESSAGE.has(m[1])) continue;
      const text = m[3];
      if (!/^[a-z]/.test(text) || startsWithCodeName(text)) continue;
      out.push({ file, line: src.slice(0, m.index).split("\n").length, message: text });
    }
  }
  return out;
}

/** One built-in error class constructed in a product file. */
export interface BareThrow {
  file: string;
  line: number;
  text: string;
}

/** JavaScript's own error classes, which carry no status code. */
const BUILTIN_ERROR =
  /(?<![.\w])(?:new\s+)?(?:Error|EvalError|RangeError|ReferenceError|SyntaxError|TypeError|URIError|AggregateError)\s*\(/;

/**
 * The built-in errors that `files` (path → source) construct, thrown,
 * rejected or kept (`new RangeError(`, `reject(new Error(`, `throw Error(`),
 * outside comments. Only hand-written product files are meant to be passed
 * (`productFiles` leaves out tests, scripts, bench and generated code).
 */
export function bareErrorThrows(files: ReadonlyMap<string, string>): BareThrow[] {
  const out: BareThrow[] = [];
  for (const [file, src] of files) {
    src.split("\n").forEach((l, i) => {
      const t = l.trimStart();
      if (t.startsWith("//") || t.startsWith("*") || t.startsWith("/*")) return;
      const code = l.replace(/\/\/.*$/, "");
      if (/\bclass\s+\w+\s+extends\b/.test(code)) return;
      if (BUILTIN_ERROR.test(code)) out.push({ file, line: i + 1, text: t });
    });
  }
  return out;
}

/**
 * Error classes that need no code, each with the reason: they never leave
 * the module that throws them.
 */
export const CODELESS_ERRORS: ReadonlyMap<string, string> = new Map([
  ["HelpRequested", "common/flags.ts: -h on a command line; each CLI catches it and prints usage"],
]);

/** One error class of the product without a status code. */
export interface CodelessClass {
  file: string;
  name: string;
}

const CLASS = /\b(abstract\s+)?class\s+(\w+)\s+extends\s+(\w+)[^{]*\{/g;

/**
 * The error classes of `files` that carry no status code: classes that extend
 * an error class (a name ending in `Error`, or one of the product's error
 * classes) and neither declare `code` in their body nor extend a class that
 * does. Abstract classes are skipped: an abstract `code` forces every
 * subclass to name one.
 */
export function codelessErrorClasses(files: ReadonlyMap<string, string>): CodelessClass[] {
  const classes = new Map<
    string,
    { file: string; base: string; hasCode: boolean; abstract: boolean }
  >();
  for (const [file, src] of files) {
    for (const m of src.matchAll(CLASS)) {
      const end = src.indexOf("\n}", m.index);
      const body = src.slice(m.index + m[0].length, end < 0 ? undefined : end);
      classes.set(m[2], {
        file,
        base: m[3],
        hasCode: /\b(?:readonly|get)\s+code\b/.test(body),
        abstract: !!m[1],
      });
    }
  }
  const hasCode = (name: string, seen = new Set<string>()): boolean => {
    const c = classes.get(name);
    if (!c || seen.has(name)) return false;
    seen.add(name);
    return c.hasCode || c.abstract || hasCode(c.base, seen);
  };
  const isError = (name: string, seen = new Set<string>()): boolean => {
    if (name === "Error" || name.endsWith("Error")) return true;
    const c = classes.get(name);
    if (!c || seen.has(name)) return false;
    seen.add(name);
    return isError(c.base, seen);
  };
  const out: CodelessClass[] = [];
  for (const [name, c] of classes) {
    if (!isError(c.base) || c.abstract || CODELESS_ERRORS.has(name)) continue;
    if (!hasCode(name)) out.push({ file: c.file, name });
  }
  return out;
}

/** One logger whose name does not follow its file's folders. */
export interface LoggerNameViolation {
  file: string;
  name: string;
  want: string;
}

const GET_LOGGER = /\bgetLogger\(\s*["'`]([^"'`]*)["'`]/g;

/**
 * The loggers of `files` not named after their folder: a file under
 * `hypervisor/dragonball/` logs as `hypervisor.dragonball` or a sub-name of
 * it (`hypervisor.dragonball.console`), so a log line's component says where
 * its code lives. Files at the root may use any name.
 */
export function loggerNameViolations(files: ReadonlyMap<string, string>): LoggerNameViolation[] {
  const out: LoggerNameViolation[] = [];
  for (const [file, src] of files) {
    const want = file.split("/").slice(0, -1).join(".");
    if (!want) continue;
    for (const m of src.matchAll(GET_LOGGER)) {
      const name = m[1];
      if (name !== want && !name.startsWith(`${want}.`)) out.push({ file, name, want });
    }
  }
  return out;
}
