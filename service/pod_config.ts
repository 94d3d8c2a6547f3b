/**
 * CreateSandbox's options, decoded: CRI sends the pod's PodSandboxConfig
 * (runtime.v1) as a protobuf Any; the runtimes get it as plain fields
 * ({@link PodConfig}).
 * @module
 */
import { fromBinary } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { InvalidArgumentError } from "../common/errors.ts";
import type { NamespaceMode, PodConfig, PodResources } from "../runtimes/pod_sandbox.ts";
import {
  type LinuxContainerResources,
  NamespaceMode as Mode,
  PodSandboxConfigSchema,
} from "./gen/cri/runtime/v1/pod_sandbox_pb.ts";

const MODES: Record<Mode, NamespaceMode> = {
  [Mode.POD]: "POD",
  [Mode.CONTAINER]: "CONTAINER",
  [Mode.NODE]: "NODE",
  [Mode.TARGET]: "TARGET",
};

function resources(r: LinuxContainerResources | undefined): PodResources | undefined {
  if (!r) return undefined;
  return {
    cpuPeriod: Number(r.cpuPeriod),
    cpuQuota: Number(r.cpuQuota),
    cpuShares: Number(r.cpuShares),
    memoryLimitInBytes: Number(r.memoryLimitInBytes),
  };
}

/** A pod with no configuration (CreateSandbox from a client other than CRI). */
function emptyPod(): PodConfig {
  return {
    name: "",
    uid: "",
    namespace: "",
    attempt: 0,
    hostname: "",
    logDirectory: "",
    dns: { servers: [], searches: [], options: [] },
    labels: {},
    annotations: {},
    cgroupParent: "",
    namespaces: { network: "POD", pid: "CONTAINER", ipc: "POD" },
    privileged: false,
    sysctls: {},
  };
}

/**
 * The pod's configuration from CreateSandbox's options: CRI's
 * PodSandboxConfig; no options give an empty pod; an Any of another type is
 * refused, naming it.
 */
export function podConfigFromOptions(options: Any | undefined): PodConfig {
  if (!options || (options.typeUrl === "" && options.value.length === 0)) return emptyPod();
  if (!options.typeUrl.endsWith("runtime.v1.PodSandboxConfig")) {
    throw new InvalidArgumentError(
      `CreateSandbox: options of type "${options.typeUrl}" are not a CRI PodSandboxConfig`,
    );
  }
  let c;
  try {
    c = fromBinary(PodSandboxConfigSchema, options.value);
  } catch (e) {
    throw new InvalidArgumentError(
      `CreateSandbox: the PodSandboxConfig does not decode: ${(e as Error).message}`,
    );
  }
  const ns = c.linux?.securityContext?.namespaceOptions;
  return {
    name: c.metadata?.name ?? "",
    uid: c.metadata?.uid ?? "",
    namespace: c.metadata?.namespace ?? "",
    attempt: c.metadata?.attempt ?? 0,
    hostname: c.hostname,
    logDirectory: c.logDirectory,
    dns: {
      servers: [...c.dnsConfig?.servers ?? []],
      searches: [...c.dnsConfig?.searches ?? []],
      options: [...c.dnsConfig?.options ?? []],
    },
    labels: { ...c.labels },
    annotations: { ...c.annotations },
    cgroupParent: c.linux?.cgroupParent ?? "",
    namespaces: {
      network: MODES[ns?.network ?? Mode.POD],
      pid: MODES[ns?.pid ?? Mode.POD],
      ipc: MODES[ns?.ipc ?? Mode.POD],
    },
    privileged: c.linux?.securityContext?.privileged ?? false,
    sysctls: { ...c.linux?.sysctls },
    resources: resources(c.linux?.resources),
    overhead: resources(c.linux?.overhead),
  };
}
