import { create } from "@bufbuild/protobuf";
import { assertEquals } from "../../tests/assert.ts";
import { SpecSchema } from "../gen/oci_pb.ts";
import { adaptSpecForGuest, specToOci } from "./oci_spec.ts";

const spec = create(SpecSchema, {
  Version: "1.0.2",
  Process: {
    Args: ["sh", "-c", "echo hi"],
    Env: ["PATH=/bin"],
    Cwd: "/",
    User: { UID: 1000, GID: 1000, AdditionalGids: [10] },
    Rlimits: [{ Type: "RLIMIT_NOFILE", Hard: 1024n, Soft: 1024n }],
    Capabilities: { Bounding: ["CAP_KILL"], Effective: ["CAP_KILL"] },
    NoNewPrivileges: true,
  },
  Root: { Path: "/host/rootfs", Readonly: true },
  Hostname: "c1",
  Mounts: [{ destination: "/proc", source: "proc", type: "proc" }],
  Hooks: { Prestart: [{ Path: "/usr/bin/host-hook", Args: ["x"] }] },
  Annotations: { "io.kubernetes.cri.container-type": "container" },
  Linux: {
    CgroupsPath: "kubepods-besteffort.slice:cri-containerd:c1",
    Namespaces: [
      { Type: "pid" },
      { Type: "network", Path: "/var/run/netns/cni-1" },
      { Type: "mount" },
      { Type: "ipc", Path: "/proc/42/ns/ipc" },
    ],
    Resources: {
      Devices: [{ Allow: false, Access: "rwm", Major: -1n, Minor: -1n }],
      Memory: { Limit: 268435456n },
      CPU: { Shares: 1024n, Quota: 50000n, Period: 100000n },
      Pids: { Limit: 0n },
    },
    MaskedPaths: ["/proc/kcore"],
    Seccomp: {
      DefaultAction: "SCMP_ACT_ERRNO",
      Syscalls: [{
        Names: ["read"],
        Action: "SCMP_ACT_ALLOW",
        ErrnoRet: { case: "errnoret", value: 1 },
      }],
    },
  },
});

Deno.test("the protobuf spec becomes OCI JSON with runc's field names", () => {
  const oci = specToOci(spec);
  assertEquals(oci.ociVersion, "1.0.2");
  assertEquals(oci.process, {
    user: { uid: 1000, gid: 1000, additionalGids: [10] },
    args: ["sh", "-c", "echo hi"],
    env: ["PATH=/bin"],
    cwd: "/",
    capabilities: { bounding: ["CAP_KILL"], effective: ["CAP_KILL"] },
    rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
    noNewPrivileges: true,
  });
  assertEquals(oci.root, { path: "/host/rootfs", readonly: true });
  assertEquals(oci.mounts, [{ destination: "/proc", source: "proc", type: "proc" }]);
  assertEquals(oci.hooks, { prestart: [{ path: "/usr/bin/host-hook", args: ["x"] }] });
  const linux = oci.linux as Record<string, unknown>;
  assertEquals(linux.resources, {
    devices: [{ allow: false, access: "rwm" }],
    memory: { limit: 268435456 },
    cpu: { shares: 1024, quota: 50000, period: 100000 },
  });
  assertEquals(linux.maskedPaths, ["/proc/kcore"]);
  assertEquals(linux.seccomp, {
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW", errnoRet: 1 }],
  });
});

Deno.test("the guest drops the network namespace, host paths and host hooks", () => {
  const guest = adaptSpecForGuest(specToOci(spec), {
    containerId: "c1",
    rootfs: "/run/kata-containers/shared/containers/c1/rootfs",
    guestHooks: { poststart: [{ path: "/usr/share/oci/hooks/poststart/h" }] },
  });
  const linux = guest.linux as Record<string, unknown>;
  assertEquals(linux.namespaces, [{ type: "pid" }, { type: "mount" }, { type: "ipc" }]);
  assertEquals(linux.cgroupsPath, "/kata/c1");
  assertEquals(guest.hooks, { poststart: [{ path: "/usr/share/oci/hooks/poststart/h" }] });
  assertEquals(guest.root, {
    path: "/run/kata-containers/shared/containers/c1/rootfs",
    readonly: true,
  });
});

Deno.test("an absolute cgroupfs path is kept", () => {
  const s = create(SpecSchema, { Linux: { CgroupsPath: "/pods/c2" } });
  const guest = adaptSpecForGuest(specToOci(s), { containerId: "c2" });
  assertEquals((guest.linux as Record<string, unknown>).cgroupsPath, "/pods/c2");
  assertEquals(guest.hooks, undefined);
});

Deno.test("a pod container joins the sandbox container's IPC, UTS and PID namespaces", () => {
  const podSpec = {
    hostname: "ignored",
    linux: {
      namespaces: [
        { type: "pid", path: "/proc/77/ns/pid" },
        { type: "ipc", path: "/proc/77/ns/ipc" },
        { type: "uts", path: "/proc/77/ns/uts" },
        { type: "mount" },
        { type: "network", path: "/var/run/netns/cni-1" },
      ],
    },
  };
  const join = { ipc: "/proc/9/ns/ipc", uts: "/proc/9/ns/uts", pid: "/proc/9/ns/pid" };
  const guest = adaptSpecForGuest(podSpec, { containerId: "a", joinNamespaces: join });
  assertEquals((guest.linux as { namespaces: unknown }).namespaces, [
    { type: "pid", path: "/proc/9/ns/pid" },
    { type: "ipc", path: "/proc/9/ns/ipc" },
    { type: "uts", path: "/proc/9/ns/uts" },
    { type: "mount" },
  ]);
  assertEquals(guest.hostname, undefined);
  // PID option CONTAINER: a fresh PID namespace, the others still shared.
  const own = adaptSpecForGuest(podSpec, {
    containerId: "a",
    joinNamespaces: { ipc: join.ipc, uts: join.uts },
  });
  assertEquals((own.linux as { namespaces: unknown[] }).namespaces[0], { type: "pid" });
});
