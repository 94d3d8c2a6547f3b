import { assert, assertEquals } from "./assert.ts";
import { bareErrorThrows, lowercaseMessages, startsWithCodeName } from "./error_style.ts";
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
    { file: "ttrpc/f.ts", line: 1, message: "no attempt made" },
    { file: "hypervisor/g.ts", line: 3, message: "bus range ${r}" },
  ]);
  assert(startsWithCodeName("bzImage too small") && !startsWithCodeName("cannot read"));
});

Deno.test("product code throws domain errors, never a bare Error", () => {
  const found = bareErrorThrows(productFiles(ROOT)).map((v) => `${v.file}:${v.line}: ${v.text}`);
  assertEquals(
    found,
    [],
    `Bare Error throws (use common/errors.ts or the module's class):\n${found.join("\n")}`,
  );
});

Deno.test("the bare-Error check catches a planted throw and skips comments and domain errors", () => {
  const files = new Map([
    ["runtimes/a.ts", 'if (!c) throw new Error(`Container "${id}" not found`);'],
    ["ffi/b.ts", 'const x = 1;\n  throw Error("Short write on fd 3");'],
    ["service/c.ts", 'throw new NotFoundError("Container c1 not found");'],
    ["ffi/d.ts", 'throw new FfiError("Internal", "Short write");\nthrow new SysError("read", 9);'],
    ["agent/e.ts", '/**\n * Never `throw new Error(` here.\n */\n// throw new Error("old")'],
    ["ttrpc/f.ts", 'return reject(new Error("Cannot write: the connection closed"));'],
  ]);
  assertEquals(bareErrorThrows(files).map((v) => `${v.file}:${v.line}`), [
    "runtimes/a.ts:1",
    "ffi/b.ts:2",
  ]);
});
