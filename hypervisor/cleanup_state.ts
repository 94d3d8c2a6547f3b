/**
 * Cleans up after a VM from its saved state alone, for when the driver
 * object is gone (`shim delete` after a crashed shim, or a restarted shim):
 * kills the VMM if that pid is still the same VMM, and removes the files and
 * jail mounts the driver made.
 * @module
 */
import { getLogger } from "../common/log.ts";
import type { HypervisorState } from "./hypervisor.ts";

const log = getLogger("hypervisor.cleanup");

/** The start time of `pid` (clock ticks since boot, /proc/<pid>/stat field 22); null if gone. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

/**
 * Whether process `pid` is still the VMM described by `state`: same start
 * time when the state recorded one (pids get reused), else its argv names the
 * API socket.
 */
export async function isSameVmm(pid: number, state: HypervisorState): Promise<boolean> {
  if (typeof state.pid_start === "string") {
    if (processStartTime(pid) !== state.pid_start) return false;
    // A killed child stays a zombie until reaped: it is not running any more.
    const status = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
    return !/^State:\s+Z/m.test(status);
  }
  let cmdline: string;
  try {
    cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`);
  } catch {
    return false;
  }
  const argv = cmdline.split("\0");
  return argv.some((a) => a.includes(state.api_socket));
}

/**
 * Kills the VMM of `state` (when still running) and removes what the driver
 * listed as its own (`owned_paths`, then `owned_empty_dirs` when empty);
 * a jailed VM's mounts below `vm_path` are unmounted first. Safe to call
 * twice; never touches a pid that is not this VMM.
 */
export async function cleanupFromState(state: HypervisorState): Promise<void> {
  if (state.pid && await isSameVmm(state.pid, state)) {
    log.info("killing leftover {type} VMM pid {pid}", {
      type: state.hypervisor_type,
      pid: state.pid,
    });
    try {
      Deno.kill(state.pid, "SIGKILL");
    } catch { /* exited meanwhile */ }
    for (let i = 0; i < 200 && await isSameVmm(state.pid, state); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  const owned = Array.isArray(state.owned_paths)
    ? (state.owned_paths as string[])
    : [state.jailed ? state.vm_path : state.run_dir].filter(Boolean);
  if (state.jailed && state.vm_path) {
    const root = state.vm_path;
    const mounts = (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
      .map((l) => l.split(" ")[4])
      .filter((m) => m && (m === root || m.startsWith(root + "/")))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) {
      const out = await new Deno.Command("umount", { args: [m], stderr: "piped" }).output();
      if (!out.success) {
        log.warn("cannot unmount {m}: {err}", {
          m,
          err: new TextDecoder().decode(out.stderr).trim(),
        });
      }
    }
  }
  for (const path of owned) {
    await Deno.remove(path, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
  for (const dir of (state.owned_empty_dirs as string[] | undefined) ?? []) {
    await Deno.remove(dir).catch(() => {/* not empty: not only ours */});
  }
}
