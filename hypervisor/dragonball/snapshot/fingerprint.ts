/**
 * What a saved VM was built from: kernel, initrd and image (each by path,
 * size and modification time), vCPU count, memory size, the kernel command
 * line and the device layout. A VM is restored only into a configuration
 * with the same fingerprint: the saved guest has that kernel running, that
 * many CPUs and that much RAM online, and those devices probed; anything
 * else would run the guest on hardware it never saw. The refusal names
 * every difference.
 * @module
 */
import * as z from "../../../common/zod.ts";
import { FailedPreconditionError } from "../../../common/errors.ts";

const fileIdSchema = z.strictObject({
  path: z.string(),
  size: z.number(),
  mtimeMs: z.number(),
});

/** A boot file's identity. */
export type FileId = z.infer<typeof fileIdSchema>;

/** The saved form of a fingerprint. */
export const fingerprintSchema = z.strictObject({
  kernel: fileIdSchema,
  initrd: z.nullable(fileIdSchema),
  image: z.nullable(fileIdSchema),
  vcpus: z.number(),
  memoryMib: z.number(),
  /** The whole kernel command line (kernel_params included). */
  cmdline: z.string(),
  /** The virtio devices in slot order, e.g. "blk(image) 9p(kataShared) net blk(slot)x4 vsock(3)". */
  devices: z.string(),
});

/** A VM's fingerprint. */
export type Fingerprint = z.infer<typeof fingerprintSchema>;

/** The identity of the file at `path` (stat; a missing file throws NotFound). */
export function fileIdentity(path: string): FileId {
  const st = Deno.statSync(path);
  return { path, size: st.size, mtimeMs: st.mtime?.getTime() ?? 0 };
}

function fileText(f: FileId | null): string {
  return f ? `${f.path} (${f.size} bytes, modified ${new Date(f.mtimeMs).toISOString()})` : "none";
}

function sameFile(a: FileId | null, b: FileId | null): boolean {
  return a === b || (!!a && !!b && a.path === b.path && a.size === b.size &&
    a.mtimeMs === b.mtimeMs);
}

/** Every difference between a saved fingerprint and the one wanted, in words. */
export function fingerprintDiff(saved: Fingerprint, want: Fingerprint): string[] {
  const out: string[] = [];
  for (const k of ["kernel", "initrd", "image"] as const) {
    if (!sameFile(saved[k], want[k])) {
      out.push(`${k} ${fileText(saved[k])}, this sandbox ${fileText(want[k])}`);
    }
  }
  if (saved.vcpus !== want.vcpus) {
    out.push(`vCPU count ${saved.vcpus}, this sandbox ${want.vcpus}`);
  }
  if (saved.memoryMib !== want.memoryMib) {
    out.push(`memory ${saved.memoryMib} MiB, this sandbox ${want.memoryMib} MiB`);
  }
  if (saved.cmdline !== want.cmdline) {
    out.push(`kernel command line "${saved.cmdline}", this sandbox "${want.cmdline}"`);
  }
  if (saved.devices !== want.devices) {
    out.push(`devices "${saved.devices}", this sandbox "${want.devices}"`);
  }
  return out;
}

/** Throws, naming every difference, unless `saved` (the template at `where`) matches `want`. */
export function checkFingerprint(where: string, saved: Fingerprint, want: Fingerprint): void {
  const diff = fingerprintDiff(saved, want);
  if (diff.length > 0) {
    throw new FailedPreconditionError(
      `Template at ${where} was built from another configuration: ${diff.join("; ")}`,
    );
  }
}
