import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import {
  cgroupHierarchies,
  SandboxCgroup,
  sandboxCgroupPath,
  usableHierarchies,
} from "./sandbox_cgroup.ts";
import { needs } from "../../tests/tier.ts";

const HYBRID = [
  "25 24 0:23 / /sys/fs/cgroup/cpu rw,nosuid - cgroup cgroup rw,cpu",
  "26 24 0:24 / /sys/fs/cgroup/cpuset rw,nosuid - cgroup cgroup rw,cpuset",
  "27 24 0:25 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,name=systemd",
  "28 24 0:26 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw",
  "29 24 0:27 / /proc rw - proc proc rw",
].join("\n");

Deno.test("hierarchies from mountinfo: v1 controllers used, named and v2 left alone on hybrid", () => {
  const all = cgroupHierarchies(HYBRID);
  assertEquals(all.length, 4);
  assertEquals(usableHierarchies(all).map((h) => h.mountPoint), [
    "/sys/fs/cgroup/cpu",
    "/sys/fs/cgroup/cpuset",
  ]);
  const v2only = cgroupHierarchies("30 24 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw");
  assertEquals(usableHierarchies(v2only).map((h) => [h.mountPoint, h.version]), [[
    "/sys/fs/cgroup",
    2,
  ]]);
});

Deno.test("sandbox cgroup path: spec path with sandbox_cgroup_only, overhead path otherwise", () => {
  assertEquals(sandboxCgroupPath("sb", "/default/sb", true), "default/sb");
  assertEquals(sandboxCgroupPath("sb", "", true), "kata_sb");
  assertEquals(sandboxCgroupPath("sb", "system.slice:cri:sb", true), "system.slice/cri-sb.scope");
  assertEquals(
    sandboxCgroupPath("sb", "kubepods-besteffort-pod12.slice:cri-containerd:sb", true),
    "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-sb.scope",
  );
  assertEquals(sandboxCgroupPath("sb", ":cri:sb", true), "system.slice/cri-sb.scope");
  assertThrows(() => sandboxCgroupPath("sb", "a.slice:cri", true), Error, "slice:prefix:name");
  assertThrows(() => sandboxCgroupPath("sb", "a--b.slice:cri:sb", true), Error, "Invalid systemd");
  assertEquals(sandboxCgroupPath("sb", "/default/sb", false), "kata_overhead/sb");
  assertThrows(() => sandboxCgroupPath("sb", "/a/../../b", true), Error, "escapes");
});

Deno.test({
  name: "real cgroup v1: a process moves into the sandbox cgroup and back; directories removed",
  ignore: needs({ root: true }).ignore || usableHierarchies(cgroupHierarchies()).length === 0,
  fn: async () => {
    const cg = new SandboxCgroup(`runtime-ts-test-${Deno.pid}/sb`);
    const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
    try {
      cg.create();
      for (const d of cg.dirs()) assert(Deno.statSync(d).isDirectory);
      cg.addPids([child.pid]);
      assertEquals(cg.pids(), [child.pid]);
      const mine = Deno.readTextFileSync(`/proc/${child.pid}/cgroup`);
      assert(mine.includes(`/runtime-ts-test-${Deno.pid}/sb`), mine);
      cg.destroy();
      for (const d of cg.dirs()) assertThrows(() => Deno.statSync(d));
      const parent = cg.dirs()[0].replace(/\/sb$/, "");
      assertThrows(() => Deno.statSync(parent)); // the parent it created is removed too
    } finally {
      child.kill("SIGKILL");
      await child.status;
      cg.destroy();
    }
  },
});
