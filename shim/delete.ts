/**
 * `delete`: containerd's clean-up after a shim it lost (killed, or not
 * reachable at boot) or a failed start. Restores what the persisted state
 * (`persist/`, `<root>/<id>/state.json`) records, kills what is left,
 * unmounts the rootfs, removes the state and the socket (a VM sandbox: its
 * VMM killed, shared mounts undone; the runtimes manager picks the clean-up
 * of the runtime recorded in the state), and prints a
 * binary `DeleteResponse` (exit status 128+SIGKILL, as Kata reports) on
 * stdout. Problems go to stderr only (containerd logs them).
 * @module
 */
import { InvalidArgumentError } from "../common/errors.ts";
import type { Invocation } from "./options.ts";
import { socketAddress, socketPath } from "./address.ts";
import { encodeDeleteResponse } from "./delete_response.ts";
import { writeAllSync } from "../common/io.ts";

const SIGKILL = 9;

/**
 * Runs `delete`; returns the exit code. File operations on its common path
 * are synchronous: containerd waits for `delete`, and the first asynchronous
 * one would start Deno's I/O thread pool (about 6 ms).
 */
export async function deleteCommand(inv: Invocation): Promise<number> {
  const f = inv.flags;
  if (!f.id) throw new InvalidArgumentError("Delete: -id is required");
  const bundle = f.bundle || Deno.cwd();
  const problems: string[] = [];
  // The shim first: a hung one may still run the built-in VMM and its mounts'
  // users; the clean-up order is kill the VMM, unmount, then remove.
  await killShim(bundle, f.id).catch((e) => problems.push(String(e)));
  try {
    const { cleanupLostSandbox } = await import("../runtimes/lost_sandbox.ts");
    await cleanupLostSandbox(f.id, bundle, Deno.env.get("KATA_PERSIST_ROOT") || "/run/kata");
  } catch (e) {
    problems.push(e instanceof Error ? e.message : String(e));
  }
  if (f.address && f.namespace) {
    const path = socketPath(socketAddress(f.address, f.namespace, f.id));
    try {
      Deno.removeSync(path);
    } catch {
      // gone already
    }
  }
  for (const p of problems) console.error(`delete ${f.id}: ${p}`);
  writeAllSync(Deno.stdout, encodeDeleteResponse(0, 128 + SIGKILL, new Date()));
  return 0;
}

/**
 * A shim that is still alive but unreachable (hung) is killed so nothing
 * leaks, only when it is proven to be this sandbox's server: the pid in
 * `shim.pid`, its command line naming `-id <id>` (and not `start`), the same
 * executable as this process, and started no later than `shim.pid` was
 * written (a pid reused after the shim died started later).
 */
async function killShim(bundle: string, id: string): Promise<void> {
  let pid: number;
  let written: number;
  try {
    pid = Number(Deno.readTextFileSync(`${bundle}/shim.pid`).trim());
    written = Deno.statSync(`${bundle}/shim.pid`).mtime?.getTime() ?? 0;
  } catch {
    return;
  }
  if (!(pid > 1) || pid === Deno.pid) return;
  const { identify, killIdentified } = await import("../persist/process_identity.ts");
  const who = identify(pid);
  if (!who) return;
  let cmdline = "";
  try {
    cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
  } catch {
    // exited meanwhile
  }
  if (!cmdline.includes(`\0-id\0${id}\0`) || cmdline.includes("\0start\0")) return;
  if (who.exe !== Deno.execPath()) return;
  const started = bootTimeMs() + Number(who.start_time) * 1000 / CLOCK_TICKS_PER_S;
  if (!(written > 0) || started > written + START_SLACK_MS) return;
  await killIdentified(who, "SIGKILL", 5000);
}

/** USER_HZ: /proc/<pid>/stat counts start times in these (100 on every Linux ABI). */
const CLOCK_TICKS_PER_S = 100;
/** Rounding of btime (whole seconds) and of the file's mtime. */
const START_SLACK_MS = 2000;

function bootTimeMs(): number {
  const m = /^btime (\d+)$/m.exec(Deno.readTextFileSync("/proc/stat"));
  return m ? Number(m[1]) * 1000 : 0;
}
