/**
 * What the host offers for the loaded configuration: device nodes, the
 * hypervisor binary and guest artifacts it names, and the cgroup version;
 * each missing required item carries a remediation hint. Used by `check`.
 * @module
 */
import type { LoadedConfig } from "./load.ts";
import { namedPaths } from "./paths.ts";
import { exists } from "../common/fs.ts";

/** One checked item. */
interface HostCheckItem {
  /** What was checked, e.g. "/dev/kvm" or "guest kernel /usr/share/...". */
  name: string;
  ok: boolean;
  /** Whether a missing item makes `check` fail. */
  required: boolean;
  /** Extra facts, e.g. the cgroup version found. */
  detail?: string;
  /** What to do when it is missing. */
  hint?: string;
}

/** cgroup layouts a host may have. */
type CgroupVersion = "v2" | "hybrid" | "v1" | "none";

/** Where to look; `root` prefixes /dev and /sys paths (tests point it at a fake tree). */
interface HostCheckOptions {
  root?: string;
}

/** Why `path` cannot be opened read-write (a node that exists but is unusable counts as absent). */
function openProblem(path: string): string | undefined {
  if (!exists(path)) return "not present";
  try {
    Deno.openSync(path, { read: true, write: true }).close();
    return undefined;
  } catch (e) {
    return `present but cannot be opened: ${(e as Error).message}`;
  }
}

/** Detects the cgroup layout under `<root>/sys/fs/cgroup`. */
export function cgroupVersion(root = ""): CgroupVersion {
  const base = `${root}/sys/fs/cgroup`;
  if (exists(`${base}/cgroup.controllers`)) return "v2";
  if (exists(`${base}/unified/cgroup.controllers`)) return "hybrid";
  if (exists(`${base}/cpu`) || exists(`${base}/memory`)) return "v1";
  return "none";
}

const DEVICE_HINTS: Record<string, string> = {
  "/dev/kvm":
    "enable virtualization in the firmware (or nested virtualization on a VM) and load kvm_intel or kvm_amd; without KVM use configuration-linux-container.toml",
  "/dev/vhost-vsock": "load the vhost_vsock module: modprobe vhost_vsock",
  "/dev/vhost-net":
    "load the vhost_net module (modprobe vhost_net) or set disable_vhost_net = true",
  "/dev/net/tun": "load the tun module: modprobe tun",
};

function artifactHint(what: string, path = ""): string {
  if (what.includes("extension image") || /-se-|coco|tdx|snp/.test(path)) {
    return "a confidential-computing guest artifact this project does not build: install Kata's, or use configuration-qemu.toml / configuration-dragonball.toml";
  }
  if (what.includes("hypervisor binary") || what.includes("jailer")) {
    return "install the hypervisor package, or point the key at the installed binary";
  }
  if (what.includes("virtio-fs daemon")) {
    return "install virtiofsd (Debian 12: /usr/lib/qemu/virtiofsd from qemu-system-common) and point virtio_fs_daemon at it, or set shared_fs to another type";
  }
  if (what.includes("OCI runtime")) return "install runc or crun (apt-get install runc)";
  if (what.includes("bind mount")) return "create the path or remove it from sandbox_bind_mounts";
  if (what.startsWith("guest ")) {
    return "build and install this project's guest: scripts/build-guest --install (it installs every kernel and image name the shipped configurations use), or point the key at your Kata guest artifacts";
  }
  return "install the Kata guest artifacts (kernel, image, firmware) or point the key at them";
}

/**
 * Whether the CPU flags show hardware virtualization (`vmx` or `svm`). A
 * `/dev/kvm` node alone is not enough: some VMs expose the node without
 * nested virtualization behind it, and QEMU then aborts or hangs.
 */
function cpuVirtualization(root = ""): "vmx" | "svm" | undefined {
  let text = "";
  try {
    text = Deno.readTextFileSync(`${root}/proc/cpuinfo`);
  } catch {
    return undefined;
  }
  const flags = text.match(/^flags\s*:(.*)$/m)?.[1].split(/\s+/) ?? [];
  return flags.includes("vmx") ? "vmx" : flags.includes("svm") ? "svm" : undefined;
}

/** Checks the host against `loaded`. Nothing here changes the host. */
export function checkHost(loaded: LoadedConfig, opts: HostCheckOptions = {}): HostCheckItem[] {
  const root = opts.root ?? "";
  const items: HostCheckItem[] = [];
  const vm = loaded.runtimeName === "virt_container";
  // A remote hypervisor runs the VM elsewhere: no local virtualization needed.
  const local = vm && loaded.hypervisorName !== "remote";
  const devices: [string, boolean][] = [
    ["/dev/kvm", local],
    ["/dev/vhost-vsock", local],
    ["/dev/vhost-net", local && !loaded.hypervisor?.disable_vhost_net],
    ["/dev/net/tun", local],
  ];
  const virt = cpuVirtualization(root);
  for (const [dev, required] of devices) {
    let problem = openProblem(`${root}${dev}`);
    // A /dev/kvm without vmx/svm behind it (PVM, a VM without nested
    // virtualization) opens fine but cannot run a guest: not ok.
    if (dev === "/dev/kvm" && problem === undefined && virt === undefined) {
      problem = "present, but the CPU shows no vmx or svm flag: it cannot run a normal guest";
    }
    const ok = problem === undefined;
    items.push({
      name: dev,
      ok,
      required,
      detail: problem,
      hint: ok ? undefined : DEVICE_HINTS[dev],
    });
  }
  items.push({
    name: "hardware virtualization (vmx/svm CPU flag)",
    ok: virt !== undefined,
    required: local,
    detail: virt ?? "no vmx or svm flag in /proc/cpuinfo",
    hint: virt ? undefined : DEVICE_HINTS["/dev/kvm"],
  });
  for (const n of namedPaths(loaded.config)) {
    const ok = n.path.startsWith("/") && exists(n.path);
    items.push({
      name: `${n.what} ${n.path}`,
      ok,
      required: true,
      detail: `[${n.section.join(".")}] ${n.key}`,
      hint: ok ? undefined : artifactHint(n.what, n.path),
    });
  }
  const cg = cgroupVersion(root);
  items.push({
    name: "cgroup",
    ok: cg !== "none",
    required: true,
    detail: cg,
    hint: cg === "none"
      ? "mount cgroup2 on /sys/fs/cgroup (mount -t cgroup2 none /sys/fs/cgroup)"
      : undefined,
  });
  return items;
}
