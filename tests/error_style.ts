/**
 * The error-message style rule (docs/architecture.md, "Errors and the RPC boundary"): a thrown
 * message starts with an uppercase letter, as Deno's standard library
 * writes them, unless it starts with a code name that must keep its case (a
 * syscall, command or configuration key: `waitpid`, `runc`, `shared_fs`,
 * `bzImage`). ConnectErrors are exempt: their text is ttRPC's wire format
 * (Go ttrpc's exact lowercase messages).
 *
 * A second rule: product code throws domain errors (`common/errors.ts`, or a
 * module's own class such as `SysError` or `FfiError` in `ffi/`), never a bare
 * `Error`, so every failure carries the status code the RPC boundary sends.
 * @module
 */

/** Code names a message may start with, in their own case (syscalls, commands, tools). */
export const CODE_NAMES: ReadonlySet<string> = new Set([
  "accept4",
  "get",
  "kill",
  "mmap",
  "open",
  "read",
  "recv",
  "recvmsg",
  "rtnetlink",
  "runc",
  "send",
  "setup",
  "ttrpc",
  "vsock",
  "waitpid",
  "write",
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
 * The error messages of `files` (path → source) that start lowercase without
 * a code name: every `new …Error("…")` (thrown or not) and every `super("…")`
 * (in product code only error classes pass a message literal to super).
 */
export function lowercaseMessages(files: ReadonlyMap<string, string>): StyleViolation[] {
  const out: StyleViolation[] = [];
  for (const [file, src] of files) {
    for (const m of src.matchAll(THROW)) {
      if (m[1] === "ConnectError") continue;
      const text = m[3];
      if (!/^[a-z]/.test(text) || startsWithCodeName(text)) continue;
      out.push({ file, line: src.slice(0, m.index).split("\n").length, message: text });
    }
  }
  return out;
}

/** One bare `throw new Error(` (or `throw Error(`) in a product file. */
export interface BareThrow {
  file: string;
  line: number;
  text: string;
}

const BARE_THROW = /\bthrow\s+(?:new\s+)?Error\s*\(/;

/**
 * The bare `Error` throws of `files` (path → source), outside comments. Only
 * hand-written product files are meant to be passed (`productFiles` leaves out
 * tests, scripts, bench and generated code).
 */
export function bareErrorThrows(files: ReadonlyMap<string, string>): BareThrow[] {
  const out: BareThrow[] = [];
  for (const [file, src] of files) {
    src.split("\n").forEach((l, i) => {
      const t = l.trimStart();
      if (t.startsWith("//") || t.startsWith("*") || t.startsWith("/*")) return;
      if (BARE_THROW.test(l.replace(/\/\/.*$/, ""))) out.push({ file, line: i + 1, text: t });
    });
  }
  return out;
}
