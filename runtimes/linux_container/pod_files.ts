/**
 * The files a pod's containers share when containerd hands the pod to the
 * shim (Sandbox API): CRI then writes no /etc/hostname, /etc/hosts,
 * /etc/resolv.conf nor /dev/shm for the pod ("ownership delegated to the
 * sandbox controller"), so the pod's directory holds them and each container
 * of the pod gets them as bind mounts, through a private bundle: a copy of
 * containerd's config.json with those mounts, its root pointing at the real
 * rootfs (containerd's own bundle is never edited).
 * @module
 */
import { InvalidArgumentError } from "../../common/errors.ts";
import { mount } from "../../ffi/mount.ts";
import type { PodConfig } from "../pod_sandbox.ts";

/** CRI's /dev/shm of a pod: a 64 MiB tmpfs, as containerd's pod sandbox makes it. */
const SHM_OPTIONS = ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"];

/** The annotation CRI puts on every container of a pod (the pod's id). */
export const CRI_SANDBOX_ID = "io.kubernetes.cri.sandbox-id";

/** The shared files' names in the pod directory, by their path in a container. */
const SHARED_FILES: readonly [string, string][] = [
  ["/etc/hostname", "hostname"],
  ["/etc/hosts", "hosts"],
  ["/etc/resolv.conf", "resolv.conf"],
];

/** The resolv.conf CRI's DNS config describes; the host's when it names nothing. */
export function resolvConf(dns: PodConfig["dns"], hostResolvConf: () => string): string {
  if (!dns.servers.length && !dns.searches.length && !dns.options.length) return hostResolvConf();
  const lines: string[] = [];
  if (dns.searches.length) lines.push(`search ${dns.searches.join(" ")}`);
  for (const s of dns.servers) lines.push(`nameserver ${s}`);
  if (dns.options.length) lines.push(`options ${dns.options.join(" ")}`);
  return lines.join("\n") + "\n";
}

/** Whether the pod has one /dev/shm of its own (not with IPC mode NODE: the node's is used). */
export function podHasShm(pod: PodConfig): boolean {
  return pod.namespaces.ipc !== "NODE";
}

/**
 * Writes the pod's hostname, hosts (the node's) and resolv.conf into `dir`
 * and mounts its /dev/shm tmpfs at `<dir>/shm`; returns whether the tmpfs
 * was mounted (the caller records it before anything else can fail).
 */
export function makePodFiles(dir: string, pod: PodConfig): boolean {
  const hostname = pod.hostname || Deno.hostname();
  Deno.writeTextFileSync(`${dir}/hostname`, `${hostname}\n`);
  Deno.writeTextFileSync(`${dir}/hosts`, readOr("/etc/hosts", "127.0.0.1\tlocalhost\n"));
  Deno.writeTextFileSync(
    `${dir}/resolv.conf`,
    resolvConf(pod.dns, () => readOr("/etc/resolv.conf", "")),
  );
  if (!podHasShm(pod)) return false;
  Deno.mkdirSync(`${dir}/shm`, { mode: 0o755 });
  mount("shm", `${dir}/shm`, "tmpfs", SHM_OPTIONS);
  return true;
}

function readOr(path: string, fallback: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return fallback;
  }
}

/** An OCI mount (the fields we read or write). */
interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

/** The parts of an OCI spec this module reads. */
interface OciSpec {
  root?: { path?: string; readonly?: boolean };
  mounts?: OciMount[];
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

/**
 * The spec of a pod container with the pod's shared files: CRI's mounts and
 * the user's stay; a missing /etc/hostname, /etc/hosts or /etc/resolv.conf
 * is bound from `podDir`; the default tmpfs /dev/shm is replaced by the
 * pod's (a bind mount at /dev/shm, the user's or the node's, stays). The
 * root path becomes absolute, resolved against `bundle`.
 */
export function podContainerSpec(
  spec: OciSpec,
  bundle: string,
  podDir: string,
  sharedShm: boolean,
): OciSpec {
  const rootPath = spec.root?.path;
  if (!rootPath) {
    throw new InvalidArgumentError(`Bundle ${bundle}: config.json has no root.path`);
  }
  const mode = spec.root?.readonly ? "ro" : "rw";
  const bind = (destination: string, source: string): OciMount => ({
    destination,
    type: "bind",
    source,
    options: ["rbind", "rprivate", mode],
  });
  const mounts = [...spec.mounts ?? []];
  for (const [destination, name] of SHARED_FILES) {
    if (!mounts.some((m) => m.destination === destination)) {
      mounts.push(bind(destination, `${podDir}/${name}`));
    }
  }
  if (sharedShm) {
    const shm: OciMount = {
      destination: "/dev/shm",
      type: "bind",
      source: `${podDir}/shm`,
      options: ["rbind", "rprivate", "rw"],
    };
    const i = mounts.findIndex((m) => m.destination === "/dev/shm");
    if (i < 0) mounts.push(shm);
    else if (mounts[i].type !== "bind") mounts[i] = shm;
  }
  return {
    ...spec,
    root: { ...spec.root, path: rootPath.startsWith("/") ? rootPath : `${bundle}/${rootPath}` },
    mounts,
  };
}
