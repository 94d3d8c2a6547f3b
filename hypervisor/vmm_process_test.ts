import { assertEquals, assertRejects } from "../tests/assert.ts";
import { UnavailableError } from "../common/errors.ts";
import { getLogger } from "../common/log.ts";
import { VmmProcess } from "./vmm_process.ts";
import { testsNeeding } from "../tests/tier.ts";

/** test: these tests need more than the unit tier (ignored, saying why, where missing). */
const test = testsNeeding({ root: true, peers: ["ip"] });

const log = getLogger("test.vmm");

Deno.test("VmmProcess: exit status, stderr tail in errors, whileAlive fails when the VMM dies", async () => {
  const p = VmmProcess.spawn({
    cmd: "sh",
    args: ["-c", "echo console line; echo first >&2; echo 'bad thing' >&2; sleep 0.05; exit 3"],
    log,
    name: "TestVMM",
    stdoutIs: "console",
  });
  const never = new Promise<never>(() => {});
  const e = await assertRejects(() => p.whileAlive(never, 'sandbox "s"'), UnavailableError);
  assertEquals(e.message, 'TestVMM of sandbox "s" exited (code 3, signal null): first; bad thing');
  assertEquals(await p.exit, { code: 3, signal: null });
  assertEquals(p.exited, true);
  assertEquals(await p.kill(), { code: 3, signal: null }); // no-op once exited
});

Deno.test("VmmProcess: kill reports the signal", async () => {
  const p = VmmProcess.spawn({
    cmd: "sleep",
    args: ["30"],
    log,
    name: "TestVMM",
    stdoutIs: "output",
  });
  assertEquals(p.startTime !== null, true);
  assertEquals(await p.kill(), { code: null, signal: "SIGKILL" });
});

test("VmmProcess: netnsPath runs the VMM inside that network namespace", async () => {
  const ns = `rtts-vp-${Math.floor(Math.random() * 1e9)}`;
  const run = (cmd: string, ...args: string[]) => new Deno.Command(cmd, { args }).output();
  await run("ip", "netns", "add", ns);
  try {
    await run("ip", "-n", ns, "link", "add", "rtmark0", "type", "veth", "peer", "name", "rtmark1");
    // /proc/self/net/dev lists the links of the reader's own netns.
    const probe = ["-c", "grep -q rtmark0: /proc/self/net/dev"];
    const inside = VmmProcess.spawn({
      cmd: "sh",
      args: probe,
      netnsPath: `/run/netns/${ns}`,
      log,
      name: "T",
      stdoutIs: "output",
    });
    const outside = VmmProcess.spawn({
      cmd: "sh",
      args: probe,
      log,
      name: "T",
      stdoutIs: "output",
    });
    assertEquals([(await inside.exit).code, (await outside.exit).code], [0, 1]);
  } finally {
    await run("ip", "netns", "del", ns);
  }
});
