/**
 * `[runtime] sandbox_bind_mounts`: host paths bind mounted into the shared
 * directory's `sandbox-mounts/<basename>` for the whole sandbox (runtime-rs's
 * layout: the guest sees them under
 * `/run/kata-containers/shared/containers/sandbox-mounts/`). Entries are
 * read-only unless suffixed `:rw` (`:ro` is accepted too; upstream's `@rw` /
 * `@ro` spelling as well). Removed at the sandbox's end: each mount is
 * unmounted and checked gone before its empty mount point is deleted.
 * @module
 */
import {
  FailedPreconditionError,
  InvalidArgumentError,
  MultipleErrors,
} from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import { isMountPoint, mount, unmount } from "../../ffi/mount.ts";
import type { SandboxService, VirtSandbox } from "./sandbox.ts";

const log = getLogger("runtimes.virt_container.sandbox_bind_mounts");

/** The directory under the shared directory (upstream's `SANDBOX_BIND_MOUNTS_DIR`). */
const SANDBOX_MOUNTS_DIR = "sandbox-mounts";

/** One parsed entry. */
interface BindMountEntry {
  source: string;
  readOnly: boolean;
  /** The name under `sandbox-mounts/`. */
  name: string;
}

/**
 * Parses `sandbox_bind_mounts` entries.
 * @throws {InvalidArgumentError} for a relative path or two entries with the same base name
 */
export function parseBindMounts(entries: readonly string[]): BindMountEntry[] {
  const out: BindMountEntry[] = [];
  for (const raw of entries) {
    const m = /^(.*?)(?:[:@](ro|rw))?$/.exec(raw.trim())!;
    const source = m[1].replace(/\/+$/, "");
    if (!source.startsWith("/")) {
      throw new InvalidArgumentError(
        `sandbox_bind_mounts entry ${JSON.stringify(raw)} is not an absolute path`,
      );
    }
    const name = source.slice(source.lastIndexOf("/") + 1);
    if (!name || name === "." || name === "..") {
      throw new InvalidArgumentError(
        `sandbox_bind_mounts entry ${JSON.stringify(raw)} has no usable base name`,
      );
    }
    if (out.some((e) => e.name === name)) {
      throw new InvalidArgumentError(`sandbox_bind_mounts has two entries named ${name}`);
    }
    out.push({ source, readOnly: m[2] !== "rw", name });
  }
  return out;
}

/** Bind mounts the entries while the sandbox runs. */
export function sandboxBindMountsService(entries: readonly string[]): SandboxService {
  const parsed = parseBindMounts(entries);
  const mounted: string[] = [];
  return {
    name: "sandbox_bind_mounts",
    start(sb: VirtSandbox) {
      if (parsed.length === 0) return;
      if (sb.parts.shareFs.kind === "none") {
        throw new FailedPreconditionError(
          `sandbox_bind_mounts needs a shared file system, but sandbox ${sb.id} has none`,
        );
      }
      const dir = `${sb.parts.shareFs.layout.hostDir}/${SANDBOX_MOUNTS_DIR}`;
      Deno.mkdirSync(dir, { recursive: true, mode: 0o750 });
      for (const e of parsed) {
        let st: Deno.FileInfo;
        try {
          st = Deno.statSync(e.source);
        } catch {
          throw new FailedPreconditionError(
            `sandbox_bind_mounts source ${e.source} does not exist`,
          );
        }
        const target = `${dir}/${e.name}`;
        if (st.isDirectory) Deno.mkdirSync(target);
        else Deno.writeTextFileSync(target, "", { createNew: true });
        try {
          mount(e.source, target, "bind", e.readOnly ? ["bind", "ro"] : ["bind"]);
        } catch (err) {
          Deno.removeSync(target);
          throw err;
        }
        mounted.push(target);
        log.info("sandbox {id}: {src} bound at {target} ({mode})", {
          id: sb.id,
          src: e.source,
          target,
          mode: e.readOnly ? "ro" : "rw",
        });
      }
    },
    stop() {
      const errors: unknown[] = [];
      while (mounted.length > 0) {
        const target = mounted.pop()!;
        try {
          unmount(target);
          // Never delete what may still be the host's data: only an empty, unmounted mount point.
          if (isMountPoint(target)) {
            throw new FailedPreconditionError(`${target} is still a mount point after unmount`);
          }
          Deno.removeSync(target);
        } catch (e) {
          errors.push(e);
        }
      }
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) {
        throw new MultipleErrors(errors, "Removing sandbox bind mounts failed");
      }
    },
  };
}
