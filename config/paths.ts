/**
 * Host files a configuration names (hypervisor binary, kernel, image,
 * firmware, virtiofsd, OCI runtime...). A missing one is a *finding*: `env`
 * shows findings as warnings, `check` and sandbox creation make them fatal
 * through {@link requirePaths}.
 * @module
 */
import { FailedPreconditionError } from "../common/errors.ts";
import type { KataConfig } from "./schema.ts";
import type { Sources } from "./sources.ts";
import { exists } from "../common/fs.ts";

/** One file the configuration names that this host lacks. */
export interface PathFinding {
  /** What the file is, e.g. "hypervisor binary", "guest kernel". */
  what: string;
  /** The missing path. */
  path: string;
  /** Section and key that name it, e.g. `[hypervisor.qemu] kernel`. */
  key: string;
  /** File (or annotation) that set the key. */
  origin: string;
  /** Full sentence for humans. */
  message: string;
}

/** A host file the configuration refers to (present or not). */
interface NamedPath {
  what: string;
  path: string;
  section: string[];
  key: string;
}

/** Directories searched for `runc`/`crun` when `PATH` is unset. */
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Finds an executable by name in `PATH` (or returns an absolute path as is). */
export function findExecutable(name: string, pathEnv = Deno.env.get("PATH") ?? DEFAULT_PATH) {
  if (name.startsWith("/")) return exists(name) ? name : undefined;
  for (const dir of pathEnv.split(":")) {
    if (dir === "") continue;
    const p = `${dir}/${name}`;
    try {
      const st = Deno.statSync(p);
      if (st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0) return p;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * Lists the host files the selected parts of `config` name: the selected
 * hypervisor's executables and guest artifacts, bind mounts, and for
 * linux_container the OCI runtime binary.
 */
export function namedPaths(config: KataConfig): NamedPath[] {
  const out: NamedPath[] = [];
  const rt = config.runtime;
  const hvName = rt.hypervisor_name;
  const hv = rt.name === "virt_container" ? config.hypervisor[hvName] : undefined;
  if (hv) {
    const s = ["hypervisor", hvName];
    const add = (what: string, key: string, path: string) => {
      if (path !== "") out.push({ what, path, section: s, key });
    };
    // Dragonball's empty path means the VMM built into this shim.
    add("hypervisor binary", "path", hv.path);
    add("hypervisor control binary", "ctlpath", hv.ctlpath);
    add("jailer binary", "jailer_path", hv.jailer_path);
    add("guest kernel", "kernel", hv.kernel);
    add("guest image", "image", hv.image);
    add("guest initrd", "initrd", hv.initrd);
    add("firmware", "firmware", hv.firmware);
    hv.pflashes.forEach((f, i) => add("flash image", `pflashes[${i}]`, f));
    if (hv.shared_fs === "virtio-fs" || hv.shared_fs === "virtio-fs-nydus") {
      add("virtio-fs daemon", "virtio_fs_daemon", hv.virtio_fs_daemon);
    }
    add("entropy source", "entropy_source", hv.entropy_source);
    for (const k of ["guest_extension_images", "extra_images"] as const) {
      hv[k].forEach((img, i) =>
        add(`guest extension image ${img.name}`, `${k}[${i}].path`, img.path)
      );
    }
    if (hv.enable_vhost_user_store) {
      add("vhost-user store directory", "vhost_user_store_path", hv.vhost_user_store_path);
    }
  }
  rt.sandbox_bind_mounts.forEach((m, i) => {
    const path = m.replace(/:(ro|rw)$/, "");
    out.push({
      what: "sandbox bind mount",
      path,
      section: ["runtime"],
      key: `sandbox_bind_mounts[${i}]`,
    });
  });
  if (rt.name === "linux_container") {
    const oci = config.linux_container.oci_runtime;
    out.push({
      what: "OCI runtime binary",
      path: oci.startsWith("/") ? oci : (findExecutable(oci) ?? oci),
      section: ["linux_container"],
      key: "oci_runtime",
    });
  }
  return out;
}

/** Returns a finding for every named host file that does not exist. */
export function findMissingPaths(config: KataConfig, sources: Sources): PathFinding[] {
  const findings: PathFinding[] = [];
  for (const n of namedPaths(config)) {
    if (exists(n.path)) continue;
    const key = `[${n.section.join(".")}] ${n.key}`;
    const origin = sources.of([...n.section, n.key.replace(/\[.*$/, "")]);
    const shown = n.path.startsWith("/") ? n.path : `${n.path} (not found in PATH)`;
    findings.push({
      what: n.what,
      path: n.path,
      key,
      origin,
      message: `${n.what} ${shown} does not exist (${key} of ${origin})`,
    });
  }
  return findings;
}

/**
 * Makes findings fatal: throws a {@link FailedPreconditionError} listing every
 * missing file (used by `check` and at sandbox creation).
 */
export function requirePaths(findings: readonly PathFinding[]): void {
  if (findings.length === 0) return;
  throw new FailedPreconditionError(
    `The configuration names files this host lacks: ${findings.map((f) => f.message).join("; ")}`,
  );
}
