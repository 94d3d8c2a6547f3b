import { assert, assertEquals } from "../tests/assert.ts";
import {
  decodeWaitStatus,
  getPid,
  isChildSubreaper,
  pidfdOpen,
  pidfdSendSignal,
  privatePipe,
  processExists,
  sendSignal,
  setChildSubreaper,
  tryReap,
} from "./process.ts";
import { closeFd, readFd, writeFd } from "./fd.ts";

Deno.test("process: wait status decoding follows the 128+signal convention", () => {
  assertEquals(decodeWaitStatus(10, 3 << 8), { pid: 10, status: 3 });
  assertEquals(decodeWaitStatus(10, 9), { pid: 10, status: 137, signal: 9 });
  assertEquals(decodeWaitStatus(10, 15 | 0x80), { pid: 10, status: 143, signal: 15 });
});

Deno.test("process: subreaper flag round-trips", () => {
  setChildSubreaper(true);
  assert(isChildSubreaper());
  setChildSubreaper(false);
  assert(!isChildSubreaper());
});

Deno.test("process: signals, existence and reaping of a pid that is not our child", () => {
  assert(processExists(getPid()));
  assertEquals(tryReap(getPid()), null);
  assertEquals(sendSignal(0x3ffffff0, 0), false);
});

Deno.test("process: a private pipe carries bytes and is reachable through /proc", () => {
  const p = privatePipe();
  try {
    writeFd(p.write, new TextEncoder().encode("hi"));
    const buf = new Uint8Array(8);
    assertEquals(readFd(p.read, buf), 2);
    assertEquals(new TextDecoder().decode(buf.subarray(0, 2)), "hi");
    const path = Deno.readLinkSync(`/proc/self/fd/${p.read}`);
    assert(path.startsWith("pipe:"), path);
  } finally {
    closeFd(p.read);
    closeFd(p.write);
  }
});

Deno.test("pidfd: signals exactly the process it was opened for", async () => {
  const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
  const fd = pidfdOpen(child.pid)!;
  try {
    assert(fd >= 0);
    assertEquals(pidfdSendSignal(fd, 9), true);
    assertEquals((await child.status).signal, "SIGKILL");
    assertEquals(pidfdSendSignal(fd, 9), false, "an exited process is not signalled");
  } finally {
    closeFd(fd);
  }
  assertEquals(pidfdOpen(0x3fffffff), null);
});

Deno.test("process: reapAny collects a child that is not Deno's, then finds none", async () => {
  // waitpid(-1) reaps any child: in the test runner it could take another
  // test's, so the check runs in a process of its own.
  const here = new URL(".", import.meta.url).pathname;
  const script = `
    import { reapAny } from "${here}process.ts";
    import { spawnDetached } from "${here}spawn.ts";
    const pid = spawnDetached({ program: "/bin/sh", args: ["-c", "exit 3"], cwd: "/", env: {} });
    let got = reapAny();
    for (let i = 0; i < 200 && got === undefined; i++) {
      await new Promise((r) => setTimeout(r, 10));
      got = reapAny();
    }
    console.log(JSON.stringify({ pid, got, after: reapAny() ?? null }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  const r = JSON.parse(text);
  assertEquals(r.got, { pid: r.pid, status: 3 });
  assertEquals(r.after, null);
});
