/**
 * Storages the shim asks for (CreateSandbox, CreateContainer): each becomes
 * a mount plan (pure, tested) that is then carried out with the guest's
 * `mount`. Drivers: 9p, virtio-fs, blk (PCI path), scsi (SCSI address), mmioblk (device
 * path), ephemeral (tmpfs), local (a directory), overlayfs, watchable-bind.
 * @module
 */
import type { Storage } from "../gen/agent_pb.ts";
import {
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  UnimplementedError,
} from "../../common/errors.ts";

/** What to do for one storage: mount `source` on `target`, or just create `target`. */
export interface MountPlan {
  kind: "mount" | "directory";
  source: string;
  target: string;
  fstype: string;
  options: string[];
  /** Group to give the mount point (fs_group). */
  groupId?: number;
}

/** Resolves a PCI path ("02" or "02/00") to the guest's block device node. */
export type BlockResolver = (pciPath: string) => Promise<string>;

/**
 * Waits until block device `dev` (/dev/vdX) reports a non-zero size. A disk
 * hot-added to a built-in VMM placeholder slot exists from boot with size 0;
 * its capacity arrives with a configuration-change interrupt that Linux
 * handles on a workqueue, so a mount right after the RPC could see an
 * empty disk.
 * @throws {FailedPreconditionError} when it stays empty for `timeoutMs`
 */
export async function waitBlockCapacity(
  dev: string,
  timeoutMs = 10_000,
  sysBlock = "/sys/class/block",
): Promise<void> {
  const name = dev.split("/").pop()!;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const size = await Deno.readTextFile(`${sysBlock}/${name}/size`).catch(() => "0");
    if (Number(size.trim()) > 0) return;
    if (Date.now() >= deadline) {
      throw new FailedPreconditionError(
        `Block device ${dev} still has no capacity after ${timeoutMs} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

const DEFAULT_9P_OPTIONS = ["trans=virtio", "version=9p2000.L", "cache=mmap", "msize=512000"];

/**
 * Plans one storage.
 * @throws {InvalidArgumentError} when the mount point is missing or not absolute
 * @throws {UnimplementedError} for drivers the agent does not support
 */
export async function planStorage(
  s: Storage,
  resolveBlock: BlockResolver,
  waitCapacity: (dev: string) => Promise<void> = (d) => waitBlockCapacity(d),
): Promise<MountPlan> {
  if (!s.mountPoint.startsWith("/")) {
    throw new InvalidArgumentError(
      `Invalid storage for driver "${s.driver}": mount point "${s.mountPoint}" is not absolute`,
    );
  }
  const base = {
    kind: "mount" as const,
    target: s.mountPoint,
    options: [...s.options],
    groupId: s.fsGroup ? s.fsGroup.groupId : undefined,
  };
  switch (s.driver) {
    case "9p": {
      const keys = new Set(s.options.map((o) => o.split("=")[0]));
      const extra = DEFAULT_9P_OPTIONS.filter((o) => !keys.has(o.split("=")[0]));
      return { ...base, source: s.source, fstype: "9p", options: [...s.options, ...extra] };
    }
    case "virtio-fs":
      return { ...base, source: s.source, fstype: "virtiofs" };
    case "blk":
    case "virtio-blk": {
      const source = s.source.startsWith("/dev/") ? s.source : await resolveBlock(s.source);
      return { ...base, source, fstype: s.fstype || "ext4" };
    }
    case "scsi":
      if (!s.source.startsWith("/dev/")) {
        return { ...base, source: await resolveScsiBlock(s.source), fstype: s.fstype || "ext4" };
      }
      return { ...base, source: s.source, fstype: s.fstype || "ext4" };
    case "mmioblk":
    case "nvdimm":
      if (!s.source.startsWith("/dev/")) {
        throw new UnimplementedError(
          `Storage driver "${s.driver}" with source "${s.source}" is not supported: only device paths`,
        );
      }
      if (s.driver === "mmioblk") await waitCapacity(s.source);
      return { ...base, source: s.source, fstype: s.fstype || "ext4" };
    case "ephemeral":
      return { ...base, source: "tmpfs", fstype: "tmpfs" };
    case "local":
      return { ...base, kind: "directory", source: "", fstype: "" };
    case "overlayfs":
      return { ...base, source: "overlay", fstype: "overlay" };
    case "watchable-bind":
      return { ...base, source: s.source, fstype: "bind", options: ["bind", ...s.options] };
    default:
      throw new UnimplementedError(`Storage driver "${s.driver}" is not supported`);
  }
}

/** The `mount` command line for a plan of kind "mount". */
export function mountArgs(plan: MountPlan): string[] {
  const args: string[] = [];
  if (plan.fstype && plan.fstype !== "bind") args.push("-t", plan.fstype);
  if (plan.options.length > 0) args.push("-o", plan.options.join(","));
  args.push(plan.source, plan.target);
  return args;
}

/**
 * Finds the block device behind a PCI path by its sysfs location: each path
 * element is a slot number (hex) on the bus below the previous one.
 */
export async function resolvePciBlock(pciPath: string, sysBlock = "/sys/block"): Promise<string> {
  const slots = pciPath.split("/").map((s) => parseInt(s, 16));
  if (slots.some((s) => Number.isNaN(s))) {
    throw new InvalidArgumentError(`Invalid PCI path "${pciPath}"`);
  }
  for await (const e of Deno.readDir(sysBlock)) {
    const link = await Deno.realPath(`${sysBlock}/${e.name}`).catch(() => "");
    const functions = [...link.matchAll(/\/[0-9a-f]{4}:[0-9a-f]{2}:([0-9a-f]{2})\.[0-7](?=\/)/g)]
      .map((m) => parseInt(m[1], 16));
    if (
      functions.length >= slots.length &&
      slots.every((s, i) => functions[functions.length - slots.length + i] === s)
    ) {
      return `/dev/${e.name}`;
    }
  }
  throw new InvalidArgumentError(`No block device at PCI path "${pciPath}"`);
}

/** Entry names of `dir`; none when it cannot be read (not there yet). */
function listDir(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/**
 * Finds the disk at SCSI address `addr` ("<scsi-id>:<lun>", as the shim's
 * QEMU driver and upstream write it). The guest boots with
 * `scsi_mod.scan=none`, so the agent asks every SCSI host to scan that
 * target and LUN, then waits for the disk's block node in sysfs.
 * @throws {InvalidArgumentError} for a malformed address
 * @throws {FailedPreconditionError} when no disk shows up within `timeoutMs`
 */
export async function resolveScsiBlock(
  addr: string,
  sys = "/sys",
  timeoutMs = 10_000,
): Promise<string> {
  const m = /^(\d+):(\d+)$/.exec(addr);
  if (!m) throw new InvalidArgumentError(`Invalid SCSI address "${addr}": want <scsi-id>:<lun>`);
  const [, target, lun] = m;
  for (const h of listDir(`${sys}/class/scsi_host`)) {
    await Deno.writeTextFile(`${sys}/class/scsi_host/${h}/scan`, `0 ${target} ${lun}`)
      .catch(() => {/* another host may not have the target */});
  }
  const suffix = `:0:${target}:${lun}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const d of listDir(`${sys}/bus/scsi/devices`)) {
      if (!d.endsWith(suffix)) continue;
      const [disk] = listDir(`${sys}/bus/scsi/devices/${d}/block`);
      if (disk) return `/dev/${disk}`;
    }
    if (Date.now() >= deadline) {
      throw new FailedPreconditionError(`No SCSI disk at address ${addr} after ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new InternalError(
      `${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
}

/** Carries out a plan: creates the mount point, mounts, applies the group. */
export async function applyPlan(plan: MountPlan): Promise<void> {
  await Deno.mkdir(plan.target, { recursive: true, mode: 0o755 });
  if (plan.kind === "directory") {
    await Deno.chmod(plan.target, 0o777);
  } else {
    await run("mount", mountArgs(plan));
  }
  if (plan.groupId !== undefined) {
    await run("chgrp", ["-R", String(plan.groupId), plan.target]);
    await run("chmod", ["-R", "g+rw", plan.target]);
  }
}

/** Undoes a plan (unmount; a created directory stays). Errors are returned, not thrown. */
export async function undoPlan(plan: MountPlan): Promise<string | undefined> {
  if (plan.kind !== "mount") return undefined;
  try {
    await run("umount", ["-l", plan.target]);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
