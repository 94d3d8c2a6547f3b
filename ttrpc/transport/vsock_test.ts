// Runs tests/ttrpc/vsock_cases.ts in a child Deno with --unstable-vsock: the test
// task may run without the flag, and Deno exits the process on an unflagged vsock call.
import { assert, assertEquals } from "../../tests/assert.ts";

/** The pass/fail/ignore counts of a `deno test` summary line ("ok | 2 passed | 0 failed | 1 ignored"). */
export function testCounts(out: string): { passed: number; failed: number; ignored: number } {
  const m = out.match(/(\d+) passed[^|\n]*\| (\d+) failed(?:[^|\n]*\| (\d+) ignored)?/);
  if (!m) return { passed: 0, failed: 0, ignored: 0 };
  return { passed: Number(m[1]), failed: Number(m[2]), ignored: Number(m[3] ?? 0) };
}

Deno.test("testCounts reads deno test's summary line", () => {
  assertEquals(testCounts("ok | 2 passed | 0 failed | 1 ignored (5ms)"), {
    passed: 2,
    failed: 0,
    ignored: 1,
  });
  assertEquals(testCounts("FAILED | 0 passed | 1 failed (3ms)"), {
    passed: 0,
    failed: 1,
    ignored: 0,
  });
  assertEquals(testCounts("error: Module not found"), { passed: 0, failed: 0, ignored: 0 });
});

Deno.test("AF_VSOCK transport cases pass under --unstable-vsock", async () => {
  const cases = new URL("../../tests/ttrpc/vsock_cases.ts", import.meta.url).pathname;
  const declared = (Deno.readTextFileSync(cases).match(/^Deno\.test\(/gm) ?? []).length;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "--unstable-vsock", "--no-check=remote", cases],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const out = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  console.log(out.split("\n").filter((l) => /ok|ignored|FAILED|warn/i.test(l)).join("\n"));
  assertEquals(code, 0, out);
  const n = testCounts(out);
  // Every declared case either ran or was ignored with its reason: none vanished silently.
  assert(declared > 0, `No Deno.test found in ${cases}`);
  assertEquals(n.passed + n.ignored, declared, `Cases run or ignored, of ${declared}:\n${out}`);
  if (n.passed === 0) console.warn(`No vsock case ran here: all ${declared} ignored (see above)`);
});
