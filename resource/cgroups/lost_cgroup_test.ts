import { assertEquals } from "../../tests/assert.ts";
import { testsNeeding } from "../../tests/tier.ts";
import { hierarchyRootOf, removeLostCgroups } from "./lost_cgroup.ts";

Deno.test("a recorded cgroup's hierarchy root is its longest mount point (v2 at /sys/fs/cgroup too)", () => {
  const v1 = ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/unified"];
  assertEquals(hierarchyRootOf("/sys/fs/cgroup/memory/kata_x", v1), "/sys/fs/cgroup/memory");
  assertEquals(hierarchyRootOf("/sys/fs/cgroup/unified/kata_x", v1), "/sys/fs/cgroup/unified");
  assertEquals(hierarchyRootOf("/sys/fs/cgroup/kata_x", ["/sys/fs/cgroup"]), "/sys/fs/cgroup");
  assertEquals(
    hierarchyRootOf("/sys/fs/cgroup/kata_overhead/x", ["/sys/fs/cgroup"]),
    "/sys/fs/cgroup",
  );
  assertEquals(hierarchyRootOf("/sys/fs/cgroup/kata_x", v1), undefined);
});

/** A cgroup tree in memory whose directories stay busy for `busyTries` removals. */
function fakeFs(procs: Record<string, string[]>, busyTries: number) {
  const calls: string[] = [];
  let busy = busyTries;
  return {
    calls,
    fs: {
      mountPoints: () => ["/sys/fs/cgroup"],
      readProcs: (dir: string) => {
        if (!(dir in procs)) throw new Deno.errors.NotFound(dir);
        return procs[dir];
      },
      moveProc: (root: string, pid: string) => calls.push(`move ${pid} to ${root}`),
      rmdir: (dir: string) => {
        if (busy-- > 0) {
          calls.push(`busy ${dir}`);
          // What Deno throws for EBUSY from rmdir(2): a plain Error with its code.
          throw Object.assign(new Error(`Device or resource busy (os error 16): remove '${dir}'`), {
            code: "EBUSY",
          });
        }
        calls.push(`rmdir ${dir}`);
        delete procs[dir];
      },
      sleep: () => Promise.resolve(),
    },
  };
}

Deno.test("a lost sandbox's cgroup waits out a VMM still exiting, its processes moved to the root", async () => {
  const { fs, calls } = fakeFs({ "/sys/fs/cgroup/kata_p": ["42"] }, 2);
  assertEquals(await removeLostCgroups(["/sys/fs/cgroup/kata_p"], fs), []);
  assertEquals(calls, [
    "move 42 to /sys/fs/cgroup",
    "busy /sys/fs/cgroup/kata_p",
    "move 42 to /sys/fs/cgroup",
    "busy /sys/fs/cgroup/kata_p",
    "move 42 to /sys/fs/cgroup",
    "rmdir /sys/fs/cgroup/kata_p",
  ]);
});

Deno.test("a lost cgroup gone already counts as removed; paths outside the cgroup mounts are refused", async () => {
  const { fs, calls } = fakeFs({}, 0);
  assertEquals(
    await removeLostCgroups(
      ["/sys/fs/cgroup/kata_gone", "/etc/passwd", "/sys/fs/cgroup/../x", 7],
      fs,
    ),
    [],
  );
  assertEquals(calls, []);
});

Deno.test("a cgroup that stays busy is reported after the bounded wait", async () => {
  const { fs } = fakeFs({ "/sys/fs/cgroup/kata_p": [] }, Number.MAX_SAFE_INTEGER);
  let now = 0;
  const realNow = Date.now;
  Date.now = () => (now += 1000);
  try {
    assertEquals(await removeLostCgroups(["/sys/fs/cgroup/kata_p"], fs), ["/sys/fs/cgroup/kata_p"]);
  } finally {
    Date.now = realNow;
  }
});

testsNeeding({ root: true })(
  "EBUSY from rmdir(2) reaches Deno as a plain Error with code EBUSY (what the retry tests for)",
  () => {
    // A mount point is busy for rmdir(2) as a cgroup with a process is.
    const dir = Deno.makeTempDirSync();
    const mount = new Deno.Command("mount", { args: ["-t", "tmpfs", "tmpfs", dir] }).outputSync();
    assertEquals(mount.code, 0, new TextDecoder().decode(mount.stderr));
    try {
      let err: unknown;
      try {
        Deno.removeSync(dir);
      } catch (e) {
        err = e;
      }
      assertEquals((err as { code?: unknown }).code, "EBUSY");
      assertEquals(err instanceof Deno.errors.Busy, false, "not Deno.errors.Busy");
    } finally {
      new Deno.Command("umount", { args: [dir] }).outputSync();
      Deno.removeSync(dir);
    }
  },
);
