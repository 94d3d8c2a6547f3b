import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { SpecSchema } from "../../agent/gen/oci_pb.ts";
import { toAgentProcess, toAgentResources, toAgentSpec } from "./oci_convert.ts";

const SPEC = {
  ociVersion: "1.0.2-dev",
  process: {
    terminal: true,
    consoleSize: { height: 24, width: 80 },
    user: { uid: 1000, gid: 1000, additionalGids: [10, 20], username: "u" },
    args: ["sh", "-c", "echo hi"],
    env: ["PATH=/bin"],
    cwd: "/work",
    capabilities: { bounding: ["CAP_KILL"], effective: ["CAP_KILL"], permitted: ["CAP_KILL"] },
    rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
    noNewPrivileges: true,
    oomScoreAdj: -500,
  },
  root: { path: "rootfs", readonly: true },
  hostname: "h1",
  mounts: [{ destination: "/proc", type: "proc", source: "proc", options: ["nosuid"] }],
  hooks: { prestart: [{ path: "/usr/bin/hook" }] },
  annotations: { "a": "b" },
  linux: {
    uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
    sysctl: { "net.ipv4.ip_forward": "1" },
    resources: {
      devices: [{ allow: false, access: "rwm" }, {
        allow: true,
        type: "c",
        major: 1,
        minor: 3,
        access: "rwm",
      }],
      memory: { limit: 268435456, swappiness: 0 },
      cpu: { shares: 1024, quota: 50000, period: 100000, cpus: "0-1" },
      pids: { limit: 100 },
      blockIO: { weight: 10, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1000 }] },
      hugepageLimits: [{ pageSize: "2MB", limit: 0 }],
    },
    cgroupsPath: "/default/c1",
    namespaces: [
      { type: "pid" },
      { type: "network", path: "/var/run/netns/cni-1" },
      { type: "mount" },
      { type: "ipc", path: "/proc/1/ns/ipc" },
    ],
    devices: [{ path: "/dev/fuse", type: "c", major: 10, minor: 229 }],
    seccomp: {
      defaultAction: "SCMP_ACT_ERRNO",
      architectures: ["SCMP_ARCH_X86_64"],
      syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW" }, {
        names: ["ptrace"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 1,
        args: [{ index: 0, value: 1, op: "SCMP_CMP_EQ" }],
      }],
    },
    maskedPaths: ["/proc/kcore"],
    readonlyPaths: ["/proc/sys"],
  },
};

Deno.test("spec conversion maps every field and survives a wire round trip", () => {
  const s = toAgentSpec(SPEC, {
    guestRootPath: "/run/kata-containers/shared/containers/c1/rootfs",
  });
  const back = fromBinary(SpecSchema, toBinary(SpecSchema, s));
  assertEquals(back.Version, "1.0.2-dev");
  assertEquals(back.Root?.Path, "/run/kata-containers/shared/containers/c1/rootfs");
  assertEquals(back.Root?.Readonly, true);
  assertEquals(back.Hostname, "h1");
  assertEquals(back.Process?.Args, ["sh", "-c", "echo hi"]);
  assertEquals(back.Process?.User?.AdditionalGids, [10, 20]);
  assertEquals(back.Process?.ConsoleSize?.Width, 80);
  assertEquals(back.Process?.Rlimits[0].Hard, 1024n);
  assertEquals(back.Process?.OOMScoreAdj, -500n);
  assertEquals(back.Process?.Capabilities?.Bounding, ["CAP_KILL"]);
  assertEquals(back.Mounts.map((m) => [m.destination, m.type, m.source]), [[
    "/proc",
    "proc",
    "proc",
  ]]);
  assertEquals(back.Annotations, { a: "b" });
  const l = back.Linux!;
  assertEquals(l.UIDMappings[0].HostID, 1000);
  assertEquals(l.Sysctl, { "net.ipv4.ip_forward": "1" });
  assertEquals(l.Resources?.Memory?.Limit, 268435456n);
  assertEquals(l.Resources?.CPU?.Quota, 50000n);
  assertEquals(l.Resources?.CPU?.Cpus, "0-1");
  assertEquals(l.Resources?.Pids?.Limit, 100n);
  assertEquals(l.Resources?.BlockIO?.ThrottleReadBpsDevice[0].Rate, 1000n);
  assertEquals(l.Resources?.Devices.map((d) => [d.Allow, d.Major, d.Minor]), [[false, -1n, -1n], [
    true,
    1n,
    3n,
  ]]);
  assertEquals(l.CgroupsPath, "/default/c1");
  assertEquals(l.Seccomp?.Syscalls[1].ErrnoRet, { case: "errnoret", value: 1 });
  assertEquals(l.Seccomp?.Syscalls[0].ErrnoRet.case, undefined);
  assertEquals(l.MaskedPaths, ["/proc/kcore"]);
  assertEquals(l.ReadonlyPaths, ["/proc/sys"]);
});

Deno.test("spec conversion amends for the guest: no hooks, no netns, no namespace paths, no host devices", () => {
  const s = toAgentSpec(SPEC, { guestRootPath: "/r" });
  assertEquals(s.Hooks, undefined);
  assertEquals(s.Linux?.Namespaces.map((n) => [n.Type, n.Path]), [["pid", ""], ["mount", ""], [
    "ipc",
    "",
  ]]);
  assertEquals(s.Linux?.Devices, []);
});

Deno.test("spec conversion takes re-pointed mounts and drops seccomp when asked", () => {
  const s = toAgentSpec(SPEC, {
    guestRootPath: "/r",
    mounts: [{
      destination: "/data",
      source: "/run/kata-containers/shared/containers/x",
      type: "bind",
      options: ["rbind"],
    }],
    disableGuestSeccomp: true,
  });
  assertEquals(s.Mounts.map((m) => m.source), ["/run/kata-containers/shared/containers/x"]);
  assertEquals(s.Linux?.Seccomp, undefined);
});

Deno.test("process conversion defaults cwd to / and refuses a non-integer limit", () => {
  assertEquals(toAgentProcess({ args: ["true"] }).Cwd, "/");
  assertThrows(
    () => toAgentProcess({ rlimits: [{ type: "X", hard: 1.5, soft: 1 }] }),
    Error,
    "rlimit hard",
  );
});

Deno.test("update resources keep only the parts given", () => {
  const r = toAgentResources({ memory: { limit: 1048576 } });
  assertEquals(r.Memory?.Limit, 1048576n);
  assertEquals(r.CPU, undefined);
  assertEquals(r.Pids, undefined);
});
