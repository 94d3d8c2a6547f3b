import { assertEquals } from "../tests/assert.ts";
import { identify } from "../persist/process_identity.ts";
import { cleanupFromState, isSameVmm, processStartTime, vmmIdentity } from "./cleanup_state.ts";
import type { HypervisorState } from "./hypervisor.ts";

function stateOf(pid: number, dir: string, over: Partial<HypervisorState> = {}): HypervisorState {
  return {
    hypervisor_type: "qemu",
    pid,
    pid_start: processStartTime(pid),
    pid_exe: identify(pid)?.exe ?? null,
    uuid: "",
    api_socket: `${dir}/qmp.sock`,
    id: "x",
    vm_path: dir,
    jailed: false,
    jailer_root: "",
    netns: null,
    run_dir: `${dir}/run`,
    owned_paths: [`${dir}/run`, `${dir}/sock`],
    owned_empty_dirs: [`${dir}/root`, `${dir}/shared`],
    ...over,
  };
}

Deno.test("cleanupFromState kills the recorded VMM and removes only what the driver owned", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/run/deep`, { recursive: true });
  await Deno.writeTextFile(`${dir}/sock`, "");
  await Deno.mkdir(`${dir}/root`);
  await Deno.mkdir(`${dir}/shared`);
  await Deno.writeTextFile(`${dir}/shared/state.json`, "{}"); // someone else's
  const vmm = new Deno.Command("sleep", { args: ["60"] }).spawn();
  const state = stateOf(vmm.pid, dir);
  assertEquals(await isSameVmm(vmm.pid, state), true);
  await cleanupFromState(state);
  assertEquals((await vmm.status).signal, "SIGKILL");
  assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["shared"]);
  await cleanupFromState(state); // twice is fine
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cleanupFromState never kills a process that merely reuses the pid", async () => {
  const dir = await Deno.makeTempDir();
  const other = new Deno.Command("sleep", { args: ["60"] }).spawn();
  try {
    // Same pid, different start time: as if the VMM died and the pid was reused.
    const state = stateOf(other.pid, dir, { pid_start: "1" });
    assertEquals(await isSameVmm(other.pid, state), false);
    await cleanupFromState(state);
    assertEquals(processStartTime(other.pid) !== null, true);
    // Same pid and start time, another executable: not the VMM either.
    const real = stateOf(other.pid, dir, { pid_exe: "/usr/bin/qemu-system-x86_64" });
    assertEquals(await isSameVmm(other.pid, real), false);
    await cleanupFromState(real);
    // No start time, or the built-in VMM's empty API socket: nothing is proven, nothing killed.
    for (
      const s of [
        { ...state, pid_start: undefined },
        { ...stateOf(other.pid, dir), pid_start: null, api_socket: "" },
        { ...stateOf(other.pid, dir), pid_exe: undefined, api_socket: "" },
      ]
    ) {
      assertEquals(vmmIdentity(s), null);
      assertEquals(await isSameVmm(other.pid, s), false);
      await cleanupFromState(s);
    }
    assertEquals(processStartTime(other.pid) !== null, true, "the unrelated process survives");
  } finally {
    other.kill("SIGKILL");
    await other.status;
    await Deno.remove(dir, { recursive: true });
  }
});
