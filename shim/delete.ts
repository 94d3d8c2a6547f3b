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

const SIGKILL = 9;

/** Runs `delete`; returns the exit code. */
export async function deleteCommand(inv: Invocation): Promise<number> {
  const f = inv.flags;
  if (!f.id) throw new InvalidArgumentError("delete: -id is required");
  const bundle = f.bundle || Deno.cwd();
  const problems: string[] = [];
  try {
    const { cleanupLostSandbox } = await import("../runtimes/manager.ts");
    await cleanupLostSandbox(f.id, bundle, Deno.env.get("KATA_PERSIST_ROOT") || "/run/kata");
  } catch (e) {
    problems.push(e instanceof Error ? e.message : String(e));
  }
  await killShim(bundle, f.id).catch((e) => problems.push(String(e)));
  if (f.address && f.namespace) {
    const path = socketPath(await socketAddress(f.address, f.namespace, f.id));
    await Deno.remove(path).catch(() => {});
  }
  for (const p of problems) console.error(`delete ${f.id}: ${p}`);
  const bytes = encodeDeleteResponse(0, 128 + SIGKILL, new Date());
  let off = 0;
  while (off < bytes.length) off += await Deno.stdout.write(bytes.subarray(off));
  return 0;
}

// A shim that is still alive but unreachable (hung) is killed so nothing leaks.
async function killShim(bundle: string, id: string): Promise<void> {
  let pid: number;
  try {
    pid = Number((await Deno.readTextFile(`${bundle}/shim.pid`)).trim());
  } catch {
    return;
  }
  if (!(pid > 1)) return;
  let cmdline = "";
  try {
    cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`);
  } catch {
    return;
  }
  // Only our own server for this id, never a recycled pid.
  if (!cmdline.includes(`\0-id\0${id}\0`) || cmdline.includes("\0start\0")) return;
  const { sendSignal } = await import("../ffi/process.ts");
  sendSignal(pid, SIGKILL);
}
