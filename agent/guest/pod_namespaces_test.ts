import { assert, assertEquals, assertNotEquals } from "../../tests/assert.ts";
import { testsNeeding } from "../../tests/tier.ts";
import { UnshareHolder } from "./pod_namespaces.ts";

const nsOf = (pid: number | "self", type: string) => Deno.readLinkSync(`/proc/${pid}/ns/${type}`);

for (const unshare of [["unshare"], ["busybox", "unshare"]]) {
  const named =
    `${unshare.join(" ")}: the holder keeps new IPC, UTS and PID namespaces for a pod, ` +
    "once, until stopped";
  testsNeeding({ root: true, peers: [unshare[0]] })(named, () => holds(unshare));
}

async function holds(unshare: string[]) {
  const holder = new UnshareHolder(unshare);
  const pid = await holder.ensure();
  try {
    assertEquals(await holder.ensure(), pid, "one holder per pod");
    for (const type of ["ipc", "uts", "pid"]) {
      assertNotEquals(nsOf(pid, type), nsOf("self", type), `${type} is the pod's own`);
    }
    assertEquals(nsOf(pid, "net"), nsOf("self", "net"), "the network stays the VM's");
    // PID 1 of the pod's PID namespace: NSpid lists its pid there last.
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    assert(/^NSpid:\s+\d+\s+1$/m.test(status), status);
  } finally {
    await holder.stop();
  }
  // Killed: gone, or a zombie until its new parent reaps it.
  const state = () => {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
    } catch {
      return "gone";
    }
  };
  for (let i = 0; i < 100 && !["gone", "Z"].includes(state()); i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert(["gone", "Z"].includes(state()), `the holder ended after stop (state ${state()})`);
  await holder.stop();
}
