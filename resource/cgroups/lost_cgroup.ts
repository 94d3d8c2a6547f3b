/**
 * Removal of the sandbox cgroups a lost shim recorded in state.json (`shim
 * delete`, a stale sandbox): what is left in each is moved to the root of
 * its hierarchy, then the directory is removed. A VMM killed a moment ago
 * may still be exiting (its threads leave the cgroup after its leader is a
 * zombie; under nested emulation, freeing a guest's memory takes seconds),
 * so a busy cgroup is retried for a bounded time before it is reported.
 * @module
 */
import { getLogger } from "../../common/log.ts";
import { cgroupHierarchies } from "./sandbox_cgroup.ts";

const log = getLogger("resource.cgroups");

/** How long a busy cgroup is retried (a killed VMM still exiting). */
const BUSY_WAIT_MS = 10_000;
const BUSY_STEP_MS = 50;

/** The mount point of the hierarchy `dir` lies in (the longest one above it). */
export function hierarchyRootOf(dir: string, mountPoints: readonly string[]): string | undefined {
  return mountPoints.filter((m) => dir.startsWith(m + "/"))
    .sort((a, b) => b.length - a.length)[0];
}

/** EBUSY: Deno reports it as a plain Error with `code` "EBUSY", not as `Deno.errors.Busy`. */
function isBusy(e: unknown): boolean {
  return e instanceof Deno.errors.Busy || (e as { code?: unknown })?.code === "EBUSY";
}

/** What {@link removeLostCgroups} uses of the host (tests replace it). */
interface CgroupFs {
  mountPoints(): string[];
  readProcs(dir: string): string[];
  moveProc(root: string, pid: string): void;
  rmdir(dir: string): void;
  sleep(ms: number): Promise<void>;
}

const HOST: CgroupFs = {
  mountPoints: () => cgroupHierarchies().map((h) => h.mountPoint),
  readProcs: (dir) => Deno.readTextFileSync(`${dir}/cgroup.procs`).split("\n").filter(Boolean),
  moveProc: (root, pid) => Deno.writeTextFileSync(`${root}/cgroup.procs`, `${pid}\n`),
  rmdir: (dir) => Deno.removeSync(dir),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/**
 * Removes the recorded cgroup directories `dirs` (only paths under
 * /sys/fs/cgroup inside a mounted hierarchy): processes left are moved to
 * the hierarchy's root, and a busy directory is retried for up to
 * {@link BUSY_WAIT_MS}. Returns the directories that stay, each logged with
 * its error; one already gone counts as removed.
 */
export async function removeLostCgroups(
  dirs: readonly unknown[],
  fs: CgroupFs = HOST,
): Promise<string[]> {
  const left: string[] = [];
  const mounts = fs.mountPoints();
  for (const d of dirs) {
    if (typeof d !== "string" || !d.startsWith("/sys/fs/cgroup/") || d.includes("/../")) continue;
    const root = hierarchyRootOf(d, mounts);
    if (!root) {
      log.warn("cgroup {d} is in no mounted cgroup hierarchy: left alone", { d });
      continue;
    }
    const until = Date.now() + BUSY_WAIT_MS;
    for (;;) {
      try {
        for (const pid of fs.readProcs(d)) {
          try {
            fs.moveProc(root, pid);
          } catch {
            // exiting: it leaves by itself
          }
        }
        fs.rmdir(d);
        break;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) break;
        if (!isBusy(e) || Date.now() >= until) {
          log.warn("cannot remove cgroup {d}: {e}", { d, e: String(e) });
          left.push(d);
          break;
        }
        await fs.sleep(BUSY_STEP_MS);
      }
    }
  }
  return left;
}
