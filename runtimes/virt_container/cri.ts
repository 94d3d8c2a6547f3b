/**
 * How a CRI runtime (containerd's CRI plugin, CRI-O) marks a pod's containers:
 * the annotations telling the sandbox (pause) container from the containers
 * that join it.
 * @module
 */
import { InvalidArgumentError } from "../../common/errors.ts";

/** containerd CRI annotations telling a pod's sandbox container from its other containers. */
export const CRI_CONTAINER_TYPE = "io.kubernetes.cri.container-type";
/** containerd CRI annotation naming the pod sandbox a container joins. */
export const CRI_SANDBOX_ID = "io.kubernetes.cri.sandbox-id";
/** CRI-O's equivalent of {@link CRI_CONTAINER_TYPE}. */
const CRIO_CONTAINER_TYPE = "io.kubernetes.cri-o.ContainerType";
/** CRI-O's equivalent of {@link CRI_SANDBOX_ID}. */
const CRIO_SANDBOX_ID = "io.kubernetes.cri-o.SandboxID";

/** A container's place in a pod. */
type ContainerRole =
  | { kind: "sandbox"; sandboxId: string }
  | { kind: "container"; sandboxId: string };

/** The container's role: sandbox (or standalone) vs. a container joining `sandboxId`. */
export function containerRole(id: string, annotations: Record<string, string>): ContainerRole {
  const type = annotations[CRI_CONTAINER_TYPE] ?? annotations[CRIO_CONTAINER_TYPE];
  const sid = annotations[CRI_SANDBOX_ID] ?? annotations[CRIO_SANDBOX_ID];
  if (type === "container") {
    if (!sid) {
      throw new InvalidArgumentError(
        `Container "${id}" is a pod container but names no sandbox (${CRI_SANDBOX_ID})`,
      );
    }
    return { kind: "container", sandboxId: sid };
  }
  return { kind: "sandbox", sandboxId: id };
}
