import { assertEquals } from "../tests/assert.ts";
import { sendSignal, setChildSubreaper } from "../ffi/process.ts";
import { Reaper, UNKNOWN_EXIT_STATUS } from "./reaper.ts";

// A grandchild that outlives its parent is re-parented to us (subreaper) and
// reaped by pid; Deno's own child keeps its status for Deno.
Deno.test("reaper: collects an orphaned grandchild's exit code and signal death", async () => {
  setChildSubreaper(true);
  try {
    const spawnOrphan = async (script: string) => {
      const out = await new Deno.Command("/bin/sh", {
        args: ["-c", `(${script}) >/dev/null 2>&1 </dev/null & echo $!`],
        stdout: "piped",
      }).output();
      assertEquals(out.code, 0);
      return Number(new TextDecoder().decode(out.stdout).trim());
    };
    const reaper = new Reaper();
    const p1 = await spawnOrphan("sleep 0.2; exit 7");
    const p2 = await spawnOrphan("exec sleep 30");
    const w2 = reaper.watch(p2);
    sendSignal(p2, 9);
    const [e1, e2] = await Promise.all([reaper.watch(p1), w2]);
    assertEquals(e1, { pid: p1, status: 7 });
    assertEquals(e2, { pid: p2, status: 137, signal: 9 });
    assertEquals(reaper.size, 0);
    // Deno's own children are untouched by the reaper.
    const own = await new Deno.Command("/bin/sh", { args: ["-c", "exit 3"] }).output();
    assertEquals(own.code, 3);
  } finally {
    setChildSubreaper(false);
  }
});

Deno.test("reaper: an exit that happened before watch() is still collected", async () => {
  setChildSubreaper(true);
  try {
    const out = await new Deno.Command("/bin/sh", {
      args: ["-c", "(exit 5) & echo $!; sleep 0.1"],
      stdout: "piped",
    }).output();
    const pid = Number(new TextDecoder().decode(out.stdout).trim());
    const e = await new Reaper().watch(pid);
    // The zombie was the shell's child and the shell reaped it, or it became ours.
    assertEquals(e.pid, pid);
    assertEquals(e.status === 5 || e.status === UNKNOWN_EXIT_STATUS, true);
  } finally {
    setChildSubreaper(false);
  }
});
