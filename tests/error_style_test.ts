import { assert, assertEquals } from "./assert.ts";
import { lowercaseMessages, startsWithCodeName } from "./error_style.ts";
import { productFiles } from "./layers.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

Deno.test("product error messages start with an uppercase letter (or a code name)", () => {
  const found = lowercaseMessages(productFiles(ROOT)).map((v) =>
    `${v.file}:${v.line}: "${v.message}"`
  );
  assertEquals(found, [], `Lowercase error messages:\n${found.join("\n")}`);
});

Deno.test("the style check catches a lowercase message and allows code names", () => {
  const files = new Map([
    ["runtimes/a.ts", 'throw new NotFoundError(`container "${id}" does not exist`);'],
    ["runtimes/b.ts", 'throw new InvalidArgumentError("Container is gone");'],
    ["ffi/c.ts", 'throw new SysError("waitpid failed");'],
    ["config/d.ts", 'throw new ConfigError(`shared_fs = "${v}" is not supported`);'],
    ["ttrpc/e.ts", "throw new ConnectError(`service ${name}`, Code.Unimplemented);"],
  ]);
  assertEquals(lowercaseMessages(files), [
    { file: "runtimes/a.ts", line: 1, message: "container " },
  ]);
  assert(startsWithCodeName("bzImage too small") && !startsWithCodeName("cannot read"));
});
