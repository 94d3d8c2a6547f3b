/**
 * The sandbox cgroup: where the VMM's processes are accounted. With
 * `[runtime] sandbox_cgroup_only` they go into the sandbox's own cgroup (the
 * pod's `linux.cgroupsPath`, so pod limits bound the whole VM); otherwise
 * into an overhead cgroup `kata_overhead/<sid>`, as runtime-rs does. On a
 * cgroup v1 (or hybrid) host one directory is made per mounted v1
 * hierarchy; on a pure v2 host, one in the unified tree. `destroy` moves the
 * processes back to the root and removes exactly the directories `create`
 * made.
 * @module
 */
import { FailedPreconditionError, InvalidArgumentError } from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";

const log = getLogger("resource.cgroups");

/** One mounted cgroup hierarchy. */
interface CgroupHierarchy {
  /** Mount point, e.g. `/sys/fs/cgroup/memory`. */
  mountPoint: string;
  /** 1 or 2. */
  version: 1 | 2;
  /** v1 controllers of the hierarchy (`cpu`, `memory`, `name=systemd`, …). */
  controllers: string[];
}

/** The cgroup hierarchies mounted on this host, from mountinfo. */
export function cgroupHierarchies(mountinfo?: string): CgroupHierarchy[] {
  const text = mountinfo ?? Deno.readTextFileSync("/proc/self/mountinfo");
  const out: CgroupHierarchy[] = [];
  for (const line of text.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const pre = line.slice(0, sep).split(" ");
    const post = line.slice(sep + 3).split(" ");
    const fstype = post[0];
    if (fstype !== "cgroup" && fstype !== "cgroup2") continue;
    const controllers = fstype === "cgroup"
      ? (post[2] ?? "").split(",").filter((o) =>
        o !== "rw" && o !== "ro" && !o.startsWith("relatime")
      )
      : [];
    out.push({ mountPoint: pre[4], version: fstype === "cgroup" ? 1 : 2, controllers });
  }
  return out;
}

/**
 * The hierarchies a sandbox cgroup is made in: every v1 hierarchy with a
 * real controller (named ones like `name=systemd` are left to systemd);
 * the unified one only when no v1 controller is mounted.
 */
export function usableHierarchies(all: readonly CgroupHierarchy[]): CgroupHierarchy[] {
  const v1 = all.filter((h) =>
    h.version === 1 && h.controllers.some((c) => !c.startsWith("name="))
  );
  if (v1.length > 0) return v1;
  return all.filter((h) => h.version === 2).slice(0, 1);
}

/**
 * The cgroupfs path of a systemd `slice:prefix:name` cgroups path, as runc's
 * systemd driver lays it out: the slice expanded into its parents
 * (`kubepods-besteffort-pod1.slice` → `kubepods.slice/kubepods-besteffort.slice/
 * kubepods-besteffort-pod1.slice`), then the unit `<prefix>-<name>.scope`
 * (or `name` itself when it is a slice).
 * @throws {InvalidArgumentError} for a malformed path
 */
function systemdCgroupPath(p: string): string {
  const parts = p.split(":");
  if (parts.length !== 3 || !parts[2]) {
    throw new InvalidArgumentError(
      `Invalid systemd cgroups path ${JSON.stringify(p)}: want slice:prefix:name`,
    );
  }
  const [slice, prefix, name] = parts;
  const dirs: string[] = [];
  const s = slice || "system.slice";
  if (s !== "-.slice") {
    if (!s.endsWith(".slice") || s.includes("/")) {
      throw new InvalidArgumentError(`Invalid systemd slice ${JSON.stringify(s)}`);
    }
    const words = s.slice(0, -".slice".length).split("-");
    if (words.some((w) => !w)) {
      throw new InvalidArgumentError(`Invalid systemd slice ${JSON.stringify(s)}`);
    }
    for (let i = 1; i <= words.length; i++) dirs.push(`${words.slice(0, i).join("-")}.slice`);
  }
  if (name.includes("/") || name === ".." || name === ".") {
    throw new InvalidArgumentError(`Invalid systemd unit name ${JSON.stringify(name)}`);
  }
  dirs.push(name.endsWith(".slice") ? name : prefix ? `${prefix}-${name}.scope` : `${name}.scope`);
  return dirs.join("/");
}

/**
 * The relative cgroup path of a sandbox: the spec's `cgroupsPath` (a plain
 * path, or a systemd `slice:prefix:name` path laid out as systemd does), else
 * `kata_<sid>`; the overhead path when the VMM must not share the sandbox
 * cgroup.
 */
export function sandboxCgroupPath(
  sid: string,
  specCgroupsPath: string | undefined,
  sandboxCgroupOnly: boolean,
): string {
  if (!sandboxCgroupOnly) return `kata_overhead/${sid}`;
  const p = specCgroupsPath ?? "";
  if (p.includes(":")) return systemdCgroupPath(p);
  if (p) {
    const clean = p.split("/").filter(Boolean);
    if (clean.some((c) => c === ".." || c === ".")) {
      throw new InvalidArgumentError(
        `Invalid cgroups path ${JSON.stringify(p)}: it escapes the root`,
      );
    }
    if (clean.length > 0) return clean.join("/");
  }
  return `kata_${sid}`;
}

/** The cgroup the VMM of one sandbox lives in. */
export class SandboxCgroup {
  /** Directories this object created, deepest last per hierarchy. */
  readonly #made: string[] = [];
  #created = false;

  constructor(
    readonly path: string,
    readonly hierarchies: readonly CgroupHierarchy[] = usableHierarchies(cgroupHierarchies()),
  ) {
    if (path.split("/").some((c) => c === ".." || c === ".")) {
      throw new InvalidArgumentError(`Invalid cgroup path ${JSON.stringify(path)}`);
    }
  }

  /** The directories of this cgroup, one per hierarchy. */
  dirs(): string[] {
    return this.hierarchies.map((h) => `${h.mountPoint}/${this.path}`);
  }

  /** Creates the cgroup in every hierarchy (cpuset gets its parent's cpus and mems). */
  create(): void {
    if (this.#created) throw new FailedPreconditionError(`Cgroup ${this.path} exists already`);
    try {
      for (const h of this.hierarchies) {
        let dir = h.mountPoint;
        for (const part of this.path.split("/").filter(Boolean)) {
          const parent = dir;
          dir = `${dir}/${part}`;
          try {
            Deno.mkdirSync(dir);
            this.#made.push(dir);
          } catch (e) {
            if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
          }
          if (h.controllers.includes("cpuset")) inheritCpuset(parent, dir);
        }
      }
    } catch (e) {
      this.#removeMade();
      throw e;
    }
    this.#created = true;
  }

  /** Moves processes into the cgroup (every hierarchy). */
  addPids(pids: readonly number[]): void {
    for (const dir of this.dirs()) {
      for (const pid of pids) Deno.writeTextFileSync(`${dir}/cgroup.procs`, `${pid}\n`);
    }
  }

  /** Processes in the cgroup (first hierarchy). */
  pids(): number[] {
    const dir = this.dirs()[0];
    if (!dir) return [];
    try {
      return Deno.readTextFileSync(`${dir}/cgroup.procs`).split("\n").filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /** Moves any process left back to the hierarchy roots and removes what `create` made. */
  destroy(): void {
    if (!this.#created) return;
    for (const h of this.hierarchies) {
      const dir = `${h.mountPoint}/${this.path}`;
      let procs: string[] = [];
      try {
        procs = Deno.readTextFileSync(`${dir}/cgroup.procs`).split("\n").filter(Boolean);
      } catch { /* gone */ }
      for (const pid of procs) {
        try {
          Deno.writeTextFileSync(`${h.mountPoint}/cgroup.procs`, `${pid}\n`);
        } catch { /* exited meanwhile */ }
      }
    }
    this.#removeMade();
    this.#created = false;
  }

  #removeMade(): void {
    while (this.#made.length > 0) {
      const dir = this.#made.pop()!;
      try {
        Deno.removeSync(dir);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) {
          log.warn("cannot remove cgroup {dir}: {e}", { dir, e: String(e) });
        }
      }
    }
  }
}

function inheritCpuset(parent: string, dir: string): void {
  for (const f of ["cpuset.cpus", "cpuset.mems"]) {
    try {
      const cur = Deno.readTextFileSync(`${dir}/${f}`).trim();
      if (cur) continue;
      Deno.writeTextFileSync(`${dir}/${f}`, Deno.readTextFileSync(`${parent}/${f}`));
    } catch { /* not a cpuset dir */ }
  }
}
