import { assertEquals, assertThrows } from "../tests/assert.ts";
import { InvalidArgumentError } from "./errors.ts";
import { HelpRequested, parseFlags } from "./flags.ts";

Deno.test("bool, string and -- forms of a flag set", () => {
  const spec = {
    debug: { kind: "bool", usage: "debug" },
    id: { kind: "string", usage: "id" },
  } as const;
  const p = parseFlags(["--id=a", "-debug", "run", "-id", "b"], spec);
  assertEquals([p.values.id, p.values.debug, p.rest], ["a", true, ["run", "-id", "b"]]);
  assertEquals(parseFlags(["--", "-id"], spec).rest, ["-id"]);
  assertThrows(() => parseFlags(["-bogus"], spec), InvalidArgumentError, "-bogus");
  assertThrows(() => parseFlags(["-h"], spec), HelpRequested);
});

Deno.test("int and list flags", () => {
  const spec = {
    memory: { kind: "int", usage: "MiB", default: 128 },
    drive: { kind: "list", usage: "disk" },
  } as const;
  const p = parseFlags(["--drive", "a", "-drive=b,ro", "-memory", "256", "x"], spec);
  assertEquals(p.values.memory, 256);
  assertEquals(p.values.drive, ["a", "b,ro"]);
  assertEquals(p.rest, ["x"]);
  assertEquals([...p.given].sort(), ["drive", "memory"]);
  assertThrows(() => parseFlags(["-memory", "lots"], spec), InvalidArgumentError, "-memory");
  assertEquals(parseFlags([], spec).values.memory, 128);
});
