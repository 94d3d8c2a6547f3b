import { assert, assertEquals } from "../tests/assert.ts";
import { selfCommand } from "./self_command.ts";

Deno.test("self command: from source, Deno runs main.ts with the repository's config", () => {
  const g = globalThis as { RUNTIME_TS_BUILD?: unknown };
  const saved = g.RUNTIME_TS_BUILD;
  try {
    delete g.RUNTIME_TS_BUILD;
    const src = selfCommand();
    assertEquals(src.program, Deno.execPath());
    assert(src.args[src.args.length - 1].endsWith("/main.ts"), src.args.join(" "));
    assert(src.args.includes("--config"));
    g.RUNTIME_TS_BUILD = { mode: "compiled", commit: "x" };
    assertEquals(selfCommand(), { program: Deno.execPath(), args: [] });
    g.RUNTIME_TS_BUILD = { mode: "bundled", commit: "x" };
    const b = selfCommand();
    assert(b.args.includes("--no-config"));
    assertEquals(b.args[b.args.length - 1], new URL(Deno.mainModule).pathname);
  } finally {
    g.RUNTIME_TS_BUILD = saved;
  }
});
