import { assert, assertEquals } from "./assert.ts";
import {
  bareErrorThrows,
  CODE_NAMES,
  codelessErrorClasses,
  loggerNameViolations,
  lowercaseMessages,
  startsWithCodeName,
} from "./error_style.ts";
import { productFiles } from "./layers.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

Deno.test("product error messages start with an uppercase letter (or a code name)", () => {
  const found = lowercaseMessages(productFiles(ROOT)).map((v) =>
    `${v.file}:${v.line}: "${v.message}"`
  );
  assertEquals(found, [], `Lowercase error messages:\n${found.join("\n")}`);
});

Deno.test("the style check catches a lowercase message, kept or in super(), and allows code names", () => {
  const files = new Map([
    ["runtimes/a.ts", 'throw new NotFoundError(`container "${id}" does not exist`);'],
    ["runtimes/b.ts", 'throw new InvalidArgumentError("Container is gone");'],
    ["ffi/c.ts", 'throw new SysError("waitpid failed");'],
    [
      "ffi/c2.ts",
      'throw new SysError("read", errno);\nthrow new FfiError("Internal", "read failed");',
    ],
    ["config/d.ts", 'throw new ConfigError(`shared_fs = "${v}" is not supported`);'],
    ["ttrpc/e.ts", "throw new ConnectError(`service ${name}`, Code.Unimplemented);"],
    ["ttrpc/f.ts", 'let last: unknown = new Error("no attempt made");'],
    [
      "hypervisor/g.ts",
      "class BusError extends Error {\n  constructor() {\n    super(`bus range ${r}`);",
    ],
  ]);
  assertEquals(lowercaseMessages(files), [
    { file: "runtimes/a.ts", line: 1, message: "container " },
    { file: "ffi/c2.ts", line: 2, message: "read failed" },
    { file: "ttrpc/f.ts", line: 1, message: "no attempt made" },
    { file: "hypervisor/g.ts", line: 3, message: "bus range ${r}" },
  ]);
  assert(startsWithCodeName("bzImage too small") && !startsWithCodeName("cannot read"));
  // A plain English word is no code name, even when a syscall is spelled the same.
  assert(!startsWithCodeName("read failed") && startsWithCodeName("waitpid failed"));
});

Deno.test("the code names are not English words", () => {
  const english = new Set([
    "get",
    "kill",
    "open",
    "read",
    "send",
    "setup",
    "write",
    "close",
    "set",
  ]);
  assertEquals([...CODE_NAMES].filter((n) => english.has(n)), []);
});

Deno.test("product code builds domain errors, never a built-in Error class", () => {
  const found = bareErrorThrows(productFiles(ROOT)).map((v) => `${v.file}:${v.line}: ${v.text}`);
  assertEquals(
    found,
    [],
    `Built-in errors (use common/errors.ts or the module's class):\n${found.join("\n")}`,
  );
});

Deno.test("every error class of the product carries a status code", () => {
  const found = codelessErrorClasses(productFiles(ROOT)).map((c) => `${c.file}: ${c.name}`);
  assertEquals(found, [], `Error classes without a code:\n${found.join("\n")}`);
});

Deno.test("the code check follows the class chain and skips abstract bases", () => {
  const files = new Map([
    [
      "common/a.ts",
      "export abstract class Base extends Error {\n  abstract readonly code: string;\n}",
    ],
    ["common/b.ts", 'export class Good extends Base {\n  readonly code = "NotFound";\n}'],
    ["hypervisor/c.ts", "export class Child extends Good {\n  x = 1;\n}"],
    ["ffi/d.ts", "export class Sys extends Error {\n  get code() {\n    return 1;\n  }\n}"],
    ["resource/e.ts", "export class Plain extends Error {\n  constructor() {}\n}"],
    ["runtimes/f.ts", "class Hidden extends RangeError {}\nclass Keep extends Plain {}"],
    ["agent/g.ts", "class NotAnError extends Map<string, string> {}"],
  ]);
  assertEquals(codelessErrorClasses(files).map((c) => c.name), ["Plain", "Hidden", "Keep"]);
});

Deno.test("the built-in-error check catches planted errors, thrown or kept, and skips comments and domain errors", () => {
  const files = new Map([
    ["runtimes/a.ts", 'if (!c) throw new Error(`Container "${id}" not found`);'],
    ["ffi/b.ts", 'const x = 1;\n  throw Error("Short write on fd 3");'],
    ["service/c.ts", 'throw new NotFoundError("Container c1 not found");'],
    ["ffi/d.ts", 'throw new FfiError("Internal", "Short write");\nthrow new SysError("read", 9);'],
    ["agent/e.ts", '/**\n * Never `throw new Error(` here.\n */\n// throw new Error("old")'],
    ["ttrpc/f.ts", 'return reject(new Error("Cannot write: the connection closed"));'],
    ["hypervisor/g.ts", "if (n < 1) throw new RangeError(`vCPU count ${n} is outside 1..4`);"],
    ["resource/h.ts", 'const e = new AggregateError(errors, "Removing failed");'],
    ["ffi/i.ts", "export class OwnError extends Error {}"],
  ]);
  assertEquals(bareErrorThrows(files).map((v) => `${v.file}:${v.line}`), [
    "runtimes/a.ts:1",
    "ffi/b.ts:2",
    "ttrpc/f.ts:1",
    "hypervisor/g.ts:1",
    "resource/h.ts:1",
  ]);
});

Deno.test("every logger is named after its file's folders", () => {
  const found = loggerNameViolations(productFiles(ROOT)).map((v) =>
    `${v.file}: "${v.name}" (want "${v.want}" or a sub-name)`
  );
  assertEquals(found, [], `Logger names:\n${found.join("\n")}`);
});

Deno.test("the logger-name check wants the folder path or a sub-name of it", () => {
  const files = new Map([
    ["hypervisor/dragonball/vm.ts", 'const log = getLogger("hypervisor.dragonball");'],
    ["hypervisor/dragonball/driver.ts", 'getLogger("hypervisor.dragonball.console");'],
    ["resource/network/a.ts", 'const log = getLogger("network");'],
    ["runtimes/virt_container/b.ts", 'getLogger("runtimes.virt_containerx");'],
    ["main.ts", 'getLogger("shim");'],
  ]);
  assertEquals(loggerNameViolations(files).map((v) => `${v.file}: ${v.name}`), [
    "resource/network/a.ts: network",
    "runtimes/virt_container/b.ts: runtimes.virt_containerx",
  ]);
});
