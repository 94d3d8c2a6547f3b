// Runs vsock_cases.ts in a child Deno with --unstable-vsock: the test task may
// run without the flag, and Deno exits the process on an unflagged vsock call.
import { assertEquals } from "../../tests/assert.ts";

Deno.test("AF_VSOCK transport cases pass under --unstable-vsock", async () => {
  const cases = new URL("./vsock_cases.ts", import.meta.url).pathname;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "--unstable-vsock", "--no-check=remote", cases],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const out = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  console.log(out.split("\n").filter((l) => /ok|ignored|FAILED|warn/i.test(l)).join("\n"));
  assertEquals(code, 0, out);
});
