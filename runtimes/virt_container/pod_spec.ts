/**
 * The sandbox spec of a pod made through containerd's Sandbox API: no pause
 * container brings an OCI spec, so the VM's inputs are synthesized from the
 * pod's CreateSandbox (CRI's PodSandboxConfig) in the shape containerd's
 * podsandbox controller gives the pause container, and the VM is built by
 * the same {@link buildSandbox} path: the pod's netns (made by CNI), its
 * hostname and DNS, its cgroup parent, its `io.katacontainers.*`
 * annotations (applied through the configuration's gates, as a pause
 * container's are) and its limits as the CRI sandbox annotations, so that
 * static sizing gives it the VM the same pod gets under podsandbox.
 * @module
 */
import { InvalidArgumentError } from "../../common/errors.ts";
import { podSandboxAnnotations } from "../../resource/cpu_mem/static_sizing.ts";
import type { CreateSandboxRequest, PodConfig } from "../pod_sandbox.ts";
import { CRI_CONTAINER_TYPE, CRI_SANDBOX_ID } from "./cri.ts";
import type { SandboxRequest } from "./sandbox_build.ts";

/** The pod annotations a pod hands to the runtime (containerd's usual `pod_annotations` for Kata). */
const KATA_ANNOTATION_PREFIX = "io.katacontainers.";

/**
 * Refuses a pod the VM runtime cannot run: one on the node's network (a VM
 * has its own network stack; upstream Kata refuses these pods too).
 */
function checkPodNetwork(id: string, network: string): void {
  if (network === "NODE") {
    throw new InvalidArgumentError(
      `Cannot create sandbox "${id}": a pod on the host network (hostNetwork: true) cannot run ` +
        `in a VM; run it with a runtime class that uses runc`,
    );
  }
}

/**
 * The resolv.conf lines of a pod, as containerd writes them for a pause
 * container: search, nameservers, options; a pod without DNS settings gets
 * the host's resolv.conf (`hostResolvConf`).
 */
export function podDns(dns: PodConfig["dns"], hostResolvConf = "/etc/resolv.conf"): string[] {
  const lines: string[] = [];
  if (dns.searches.length > 0) lines.push(`search ${dns.searches.join(" ")}`);
  for (const s of dns.servers) lines.push(`nameserver ${s}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(" ")}`);
  if (lines.length > 0) return lines;
  try {
    return Deno.readTextFileSync(hostResolvConf).split("\n").map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
  } catch {
    return [];
  }
}

/**
 * Refuses a CRI pod's sandbox (pause) container on the host network: its
 * spec names no network namespace (containerd drops it for such a pod).
 * A `ctr run` container without CRI annotations keeps running as before.
 */
export function refuseHostNetworkSandbox(
  id: string,
  spec: Record<string, unknown>,
  annotations: Record<string, string>,
): void {
  if (annotations[CRI_CONTAINER_TYPE] !== "sandbox") return;
  const linux = (spec.linux ?? {}) as { namespaces?: { type?: string; path?: string }[] };
  // A network entry (with the CNI netns path, or none to make one) keeps the VM off the host's.
  if (!(linux.namespaces ?? []).some((n) => n.type === "network")) checkPodNetwork(id, "NODE");
}

/** containerd's cgroups path of a pod's sandbox: `slice:cri-containerd:id` under systemd, else parent/id. */
function podCgroupsPath(parent: string, id: string): string | undefined {
  if (!parent) return undefined;
  const base = parent.split("/").filter(Boolean).pop() ?? "";
  if (base.endsWith(".slice")) return `${base}:cri-containerd:${id}`;
  return `${parent.replace(/\/+$/, "")}/${id}`;
}

/**
 * The {@link SandboxRequest} of a Sandbox API pod: what its sandbox (pause)
 * container's spec would have given {@link buildSandbox}.
 */
export function podSandboxRequest(
  req: CreateSandboxRequest,
  hostResolvConf?: string,
): SandboxRequest {
  const pod = req.pod;
  checkPodNetwork(req.id, pod.namespaces.network);
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(pod.annotations)) {
    if (k.startsWith(KATA_ANNOTATION_PREFIX)) annotations[k] = v;
  }
  Object.assign(annotations, req.annotations, podSandboxAnnotations(pod.resources), {
    [CRI_CONTAINER_TYPE]: "sandbox",
    [CRI_SANDBOX_ID]: req.id,
  });
  const cgroupsPath = podCgroupsPath(pod.cgroupParent, req.id);
  const spec: Record<string, unknown> = {
    ociVersion: "1.0.2",
    hostname: pod.hostname,
    annotations,
    linux: {
      // No netns (a client other than CRI): the VM runs without a pod network.
      namespaces: [req.netnsPath ? { type: "network", path: req.netnsPath } : { type: "network" }],
      ...(cgroupsPath ? { cgroupsPath } : {}),
    },
  };
  return {
    id: req.id,
    bundle: req.bundle,
    spec,
    annotations,
    dns: podDns(pod.dns, hostResolvConf),
  };
}
