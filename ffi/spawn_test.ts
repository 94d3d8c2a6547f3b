import { assert, assertEquals, assertStringIncludes } from "../tests/assert.ts";
import { closeFd } from "./fd.ts";
import { readinessPipe } from "./inherit.ts";
import { spawnDetached } from "./spawn.ts";

async function waitForFile(path: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const text = await Deno.readTextFile(path).catch(() => "");
    if (text.endsWith("done\n")) return text;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${path} was not written within 5 s`);
}

Deno.test("spawnDetached: new session, /dev/null stdio, cwd, exact env, inherited fd, clean signals", async () => {
  const dir = await Deno.makeTempDir();
  const pipe = readinessPipe();
  const fd = pipe.write;
  try {
    const script = [
      'echo "sid=$(cut -d" " -f6 /proc/$$/stat) pid=$$"',
      'echo "cwd=$(pwd)"',
      'echo "env=$ONLY_THIS home=${HOME-unset}"',
      `echo "fd=$(readlink /proc/$$/fd/${fd})"`,
      'echo "in=$(readlink /proc/$$/fd/0) err=$(readlink /proc/$$/fd/2)"',
      'grep -E "^Sig(Blk|Ign)" /proc/$$/status',
      "echo done",
    ].join("; ");
    const pid = spawnDetached({
      program: "/bin/sh",
      args: ["-c", `(${script}) > ${dir}/out`],
      cwd: dir,
      env: { ONLY_THIS: "yes" },
    });
    const out = await waitForFile(`${dir}/out`);
    assertStringIncludes(out, `sid=${pid} pid=${pid}`); // session leader
    assertStringIncludes(out, `cwd=${dir}`);
    assertStringIncludes(out, "env=yes home=unset");
    assert(/fd=pipe:/.test(out), out);
    assertStringIncludes(out, "in=/dev/null err=/dev/null");
    assertStringIncludes(out, "SigBlk:\t0000000000000000");
    // Deno ignores SIGPIPE (signal 13, bit 12); the daemon must get the default back.
    const ignored = BigInt("0x" + /SigIgn:\t([0-9a-f]+)/.exec(out)![1]);
    assertEquals(ignored & (1n << 12n), 0n, `SIGPIPE still ignored: ${ignored.toString(16)}`);
  } finally {
    closeFd(pipe.read);
    closeFd(fd);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spawnDetached: a program that cannot run is an error naming it", () => {
  let msg = "";
  try {
    spawnDetached({ program: "/nonexistent/prog", args: [], cwd: "/", env: {} });
  } catch (e) {
    msg = (e as Error).message;
  }
  assertStringIncludes(msg, "posix_spawn /nonexistent/prog: No such file or directory");
  try {
    spawnDetached({ program: "sh", args: [], cwd: "/", env: {} });
  } catch (e) {
    msg = (e as Error).message;
  }
  assertStringIncludes(msg, "sh (not an absolute path)");
  let cwdMsg = "";
  try {
    spawnDetached({ program: "/bin/true", args: [], cwd: "/nonexistent-dir", env: {} });
  } catch (e) {
    cwdMsg = (e as Error).message;
  }
  assertEquals(cwdMsg.startsWith("posix_spawn /bin/true: No such file or directory"), true, cwdMsg);
});
