import { assert, assertEquals } from "../../tests/assert.ts";
import { getAffinity, setAffinity, vcpuThreads } from "../../ffi/affinity.ts";
import { pinVcpus } from "./vcpu_pinning.ts";

/** A helper process with two threads named like vCPU threads (a Worker renames itself through prctl). */
const CHILD = `
const lib = Deno.dlopen("libc.so.6", { prctl: { parameters: ["i32", "buffer", "u64", "u64", "u64"], result: "i32" } });
const src = "const l = Deno.dlopen('libc.so.6', { prctl: { parameters: ['i32','buffer','u64','u64','u64'], result: 'i32' } });" +
  "self.onmessage = (e) => { l.symbols.prctl(15, new TextEncoder().encode('CPU ' + e.data + '/KVM\\\\0'), 0n, 0n, 0n); self.postMessage('ok'); setInterval(() => {}, 1000); };";
const url = URL.createObjectURL(new Blob([src], { type: "application/javascript" }));
for (const id of [0, 1]) {
  const w = new Worker(url, { type: "module" });
  await new Promise((r) => { w.onmessage = r; w.postMessage(id); });
}
console.log("ready");
setInterval(() => {}, 1000);
`;

Deno.test("vCPU threads are found by name and pinned one to one when vCPUs and CPUs match", async () => {
  const dir = await Deno.makeTempDir();
  const script = `${dir}/child.ts`;
  await Deno.writeTextFile(script, CHILD);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-config", script],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    assertEquals(new TextDecoder().decode(value).trim(), "ready");
    reader.releaseLock();
    const threads = vcpuThreads(child.pid);
    assertEquals([...threads.keys()].sort(), [0, 1]);
    const mine = getAffinity();
    if (mine.length < 2) {
      console.warn("fewer than 2 CPUs: only the mismatch case is checked");
    }
    // Two vCPUs on two CPUs: one each.
    const two = mine.slice(0, 2);
    setAffinity(child.pid, two);
    if (two.length === 2) {
      const r = pinVcpus(child.pid, 2);
      assertEquals(r.skipped, undefined);
      assertEquals([...r.pinned], [[0, two[0]], [1, two[1]]]);
      assertEquals(getAffinity(threads.get(0)!), [two[0]]);
      assertEquals(getAffinity(threads.get(1)!), [two[1]]);
      assert(
        /Cpus_allowed_list:\s+\d+$/m.test(
          await Deno.readTextFile(`/proc/${child.pid}/task/${threads.get(1)}/status`),
        ),
      );
    }
    // A count mismatch pins nothing and says why.
    setAffinity(child.pid, [mine[0]]);
    const r = pinVcpus(child.pid, 2);
    assert(r.skipped?.includes("2 vCPUs but 1 CPUs allowed"), r.skipped);
    assertEquals(pinVcpus(child.pid, 3).skipped, "2 vCPU threads found, 3 configured");
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await child.stdout.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
