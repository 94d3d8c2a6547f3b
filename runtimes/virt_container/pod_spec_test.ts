import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { InvalidArgumentError } from "../../common/errors.ts";
import {
  SANDBOX_CPU_PERIOD,
  SANDBOX_CPU_QUOTA,
  SANDBOX_CPU_SHARES,
  SANDBOX_MEMORY,
} from "../../resource/cpu_mem/static_sizing.ts";
import type { CreateSandboxRequest, PodConfig } from "../pod_sandbox.ts";
import { CRI_CONTAINER_TYPE, CRI_SANDBOX_ID } from "./cri.ts";
import { podDns, podSandboxRequest, refuseHostNetworkSandbox } from "./pod_spec.ts";

function req(
  over: Partial<PodConfig> = {},
  netnsPath = "/var/run/netns/cni-1",
): CreateSandboxRequest {
  return {
    id: "p1",
    bundle: "/run/containerd/io.containerd.sandbox.controller.v1.shim/k8s.io/p1",
    netnsPath,
    pod: {
      name: "web",
      uid: "u",
      namespace: "default",
      attempt: 0,
      hostname: "web-0",
      logDirectory: "",
      dns: { servers: [], searches: [], options: [] },
      labels: { app: "web" },
      annotations: {
        "io.katacontainers.config.hypervisor.default_memory": "1024",
        "example.com/owner": "team",
      },
      cgroupParent: "/kubepods/burstable/podu",
      namespaces: { network: "POD", pid: "CONTAINER", ipc: "POD" },
      privileged: false,
      sysctls: {},
      resources: {
        cpuPeriod: 100000,
        cpuQuota: 200000,
        cpuShares: 2048,
        memoryLimitInBytes: 2 ** 30,
      },
      ...over,
    },
    annotations: {},
    rootfs: [],
  };
}

Deno.test("a Sandbox API pod's sandbox spec carries what containerd gives a pause container", () => {
  const r = podSandboxRequest(req(), "/nonexistent");
  assertEquals(r.id, "p1");
  assertEquals(r.bundle, "/run/containerd/io.containerd.sandbox.controller.v1.shim/k8s.io/p1");
  assertEquals(r.annotations, {
    // The pod's own Kata annotations pass (the configuration's gates apply them); others do not.
    "io.katacontainers.config.hypervisor.default_memory": "1024",
    [SANDBOX_CPU_PERIOD]: "100000",
    [SANDBOX_CPU_QUOTA]: "200000",
    [SANDBOX_CPU_SHARES]: "2048",
    [SANDBOX_MEMORY]: String(2 ** 30),
    [CRI_CONTAINER_TYPE]: "sandbox",
    [CRI_SANDBOX_ID]: "p1",
  });
  assertEquals(r.spec, {
    ociVersion: "1.0.2",
    hostname: "web-0",
    annotations: r.annotations,
    linux: {
      namespaces: [{ type: "network", path: "/var/run/netns/cni-1" }],
      cgroupsPath: "/kubepods/burstable/podu/p1",
    },
  });
  // No DNS settings and no host resolv.conf: no lines.
  assertEquals(r.dns, []);
});

Deno.test("a pod's cgroup parent becomes containerd's cgroups path (systemd slices too)", () => {
  const systemd = podSandboxRequest(
    req({ cgroupParent: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podu.slice" }),
  );
  assertEquals(
    (systemd.spec.linux as { cgroupsPath: string }).cgroupsPath,
    "kubepods-burstable-podu.slice:cri-containerd:p1",
  );
  const none = podSandboxRequest(req({ cgroupParent: "", resources: undefined }));
  assertEquals((none.spec.linux as { cgroupsPath?: string }).cgroupsPath, undefined);
  assertEquals(none.annotations[SANDBOX_MEMORY], undefined, "no limits: no sizing annotations");
});

Deno.test("a pod's DNS lines are written as containerd writes them; none: the host's resolv.conf", () => {
  assertEquals(
    podDns({
      servers: ["10.96.0.10", "10.96.0.11"],
      searches: ["a.svc", "svc"],
      options: ["ndots:5"],
    }),
    ["search a.svc svc", "nameserver 10.96.0.10", "nameserver 10.96.0.11", "options ndots:5"],
  );
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/resolv.conf`, "# host\nnameserver 192.0.2.1\n\nsearch lan\n");
    assertEquals(podDns({ servers: [], searches: [], options: [] }, `${dir}/resolv.conf`), [
      "nameserver 192.0.2.1",
      "search lan",
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a pod on the host network is refused, under both sandboxers", () => {
  const hostNet = { network: "NODE" as const, pid: "POD" as const, ipc: "POD" as const };
  assertThrows(
    () => podSandboxRequest(req({ namespaces: hostNet }, "")),
    InvalidArgumentError,
    'Cannot create sandbox "p1": a pod on the host network (hostNetwork: true) cannot run in a VM',
  );
  // A pod with no netns (a client other than CRI) gets a VM without a pod network, not the host's.
  assertEquals(
    (podSandboxRequest(req({}, "")).spec.linux as Record<string, unknown>).namespaces,
    [{ type: "network" }],
  );
  // podsandbox: containerd drops the network namespace of a host-network pause container.
  const sandbox = { [CRI_CONTAINER_TYPE]: "sandbox" };
  assertThrows(
    () => refuseHostNetworkSandbox("p1", { linux: { namespaces: [{ type: "pid" }] } }, sandbox),
    InvalidArgumentError,
    "host network",
  );
  refuseHostNetworkSandbox("p1", {
    linux: { namespaces: [{ type: "network", path: "/var/run/netns/x" }] },
  }, sandbox);
  // A ctr run container is no pod's sandbox: it keeps running as before.
  refuseHostNetworkSandbox("c1", { linux: { namespaces: [] } }, {});
});
