import { assert, assertEquals, assertNotEquals } from "../../tests/assert.ts";
import { testsNeeding } from "../../tests/tier.ts";
import { identify, killIdentified } from "../../persist/process_identity.ts";
import { Reaper } from "../reaper.ts";
import { type SelfCommand, spawnHolder, waitReady } from "./ns_holder.ts";
import type { ChildNamespaces } from "../../ffi/namespaces.ts";

const test = testsNeeding({ root: true, peers: ["nsenter"] });

/** The shim from source, as shim/self_command.ts runs it. */
const SELF: SelfCommand = {
  program: Deno.execPath(),
  args: ["run", "-A", "--quiet", new URL("../../main.ts", import.meta.url).pathname],
};

const NS = ["net", "ipc", "uts", "pid"];

function links(pid: number | "thread-self"): Record<string, string> {
  return Object.fromEntries(NS.map((n) => [n, Deno.readLinkSync(`/proc/${pid}/ns/${n}`)]));
}

/** `/proc/<pid>/status`'s NSpid: the pid in each nested PID namespace. */
function nsPid(pid: number): string {
  const line = Deno.readTextFileSync(`/proc/${pid}/status`).split("\n")
    .find((l) => l.startsWith("NSpid:")) ?? "";
  return line.replace("NSpid:", "").trim();
}

async function hostnameIn(pid: number): Promise<string> {
  const out = await new Deno.Command("nsenter", { args: ["-t", String(pid), "-u", "hostname"] })
    .output();
  return new TextDecoder().decode(out.stdout).trim();
}

/** Spawns a holder in `ns`, runs `check` on its pid, then kills it and asserts the kill. */
async function withHolder(
  ns: ChildNamespaces,
  check: (pid: number, before: Record<string, string>) => Promise<void>,
): Promise<void> {
  const before = links("thread-self");
  const reaper = new Reaper();
  const dir = await Deno.makeTempDir({ prefix: "rts-holder-" });
  const pid = spawnHolder(SELF, ns, `${dir}/ready`);
  const exited = reaper.watch(pid);
  const id = identify(pid);
  try {
    assert(id !== null, "the holder runs");
    assertEquals(await waitReady(`${dir}/ready`, exited, 30_000), "ready");
    await check(pid, before);
  } finally {
    if (id) assertEquals(await killIdentified(id, "SIGKILL"), "killed");
    assertEquals((await exited).status, 137);
    reaper.close();
    await Deno.remove(dir, { recursive: true });
  }
}

test({
  name: "ns holder: PID 1 of new PID, IPC and UTS namespaces; the caller's stay",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withHolder(
      { netns: "", hostname: "holder-test", newIpc: true, newPid: true },
      async (pid, before) => {
        assertEquals(links("thread-self"), before, "the calling thread is back in its namespaces");
        assertEquals(
          Deno.readLinkSync("/proc/thread-self/ns/pid_for_children"),
          before.pid,
          "the thread's children are born in its own PID namespace again",
        );
        const its = links(pid);
        assertEquals(its.net, before.net, "no netns asked: the caller's network");
        assertNotEquals(its.ipc, before.ipc, "own IPC namespace");
        assertNotEquals(its.uts, before.uts, "own UTS namespace");
        assertNotEquals(its.pid, before.pid, "own PID namespace");
        assertEquals(nsPid(pid), `${pid}\t1`, "PID 1 of its namespace");
        assertEquals(await hostnameIn(pid), "holder-test");
        await new Promise((r) => setTimeout(r, 1500));
        assert(identify(pid) !== null, "the holder stays (Deno as PID 1 starts and idles)");
      },
    ),
});

test({
  name: "ns holder: without a PID namespace or hostname it keeps the caller's PID and UTS",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withHolder({ netns: "", newIpc: false, newPid: false }, (pid, before) => {
      assertEquals(links(pid), before, "every namespace is the caller's");
      assertEquals(nsPid(pid), String(pid));
      return Promise.resolve();
    }),
});

Deno.test({
  name: "ns holder: a holder that cannot start is told apart from a slow one",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const reaper = new Reaper();
    const dir = await Deno.makeTempDir({ prefix: "rts-holder-" });
    try {
      // A relative ready file is refused by the holder itself, which exits with 2.
      const pid = spawnHolder(SELF, { netns: "", newIpc: false, newPid: false }, "relative");
      const exited = reaper.watch(pid);
      assertEquals(await waitReady(`${dir}/never`, exited, 30_000), "exited");
      assertEquals((await exited).status, 2);
      const never = new Promise<void>(() => {});
      assertEquals(await waitReady(`${dir}/never`, never, 50), "timeout");
      Deno.writeTextFileSync(`${dir}/ready`, "");
      assertEquals(await waitReady(`${dir}/ready`, never, 50), "ready");
    } finally {
      reaper.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
