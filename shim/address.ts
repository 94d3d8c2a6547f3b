/**
 * Where a shim listens: `unix:///run/containerd/s/<sha256(address/ns/id)>`,
 * the convention of containerd's Go shim library and Kata, and which
 * sandbox a container belongs to (CRI and CRI-O annotations).
 * @module
 */
import { sha256Hex } from "../common/sha256.ts";

/** The directory of shim sockets. */
const SOCKET_DIR = "/run/containerd/s";

/**
 * The socket address for a shim (lowercase hex, as containerd's Go code
 * writes it). Synchronous: `start` and `delete` need it on containerd's
 * critical path (common/sha256.ts says why not WebCrypto).
 */
export function socketAddress(grpcAddress: string, namespace: string, id: string): string {
  const joined = joinPath(grpcAddress, namespace, id);
  return `unix://${SOCKET_DIR}/${sha256Hex(joined)}`;
}

/** The filesystem path of a `unix://` address. */
export function socketPath(address: string): string {
  return address.replace(/^unix:\/\//, "");
}

// Go's filepath.Join: joins with "/" and cleans repeated slashes.
function joinPath(...parts: string[]): string {
  return parts.filter((p) => p !== "").join("/").replace(/\/+/g, "/");
}

const TYPE_KEYS = ["io.kubernetes.cri.container-type", "io.kubernetes.cri-o.ContainerType"];
const SANDBOX_KEYS = ["io.kubernetes.cri.sandbox-id", "io.kubernetes.cri-o.SandboxID"];

/** How a bundle's container relates to its pod. */
type ContainerKind =
  | { kind: "sandbox" }
  | { kind: "single" }
  | { kind: "pod-container"; sandboxId: string };

/** Reads the container type from OCI annotations. */
export function containerKind(annotations: Record<string, string> | undefined): ContainerKind {
  const a = annotations ?? {};
  const type = TYPE_KEYS.map((k) => a[k]).find((v) => v !== undefined);
  if (type === "sandbox") return { kind: "sandbox" };
  if (type === "container") {
    const sandboxId = SANDBOX_KEYS.map((k) => a[k]).find((v) => v);
    if (sandboxId) return { kind: "pod-container", sandboxId };
  }
  return { kind: "single" };
}
