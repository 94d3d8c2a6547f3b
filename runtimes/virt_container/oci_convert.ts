/**
 * The OCI runtime spec (config.json, JSON) converted to the Kata agent's
 * protobuf `grpc.Spec`, and the amendments a spec needs before the guest
 * sees it: host hooks dropped (they ran on the host), the network
 * namespace dropped (the VM is the pod's network), namespace paths cleared
 * (host paths mean nothing in the guest), the root pointed at the guest
 * path, seccomp dropped when `disable_guest_seccomp` asks for it.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import {
  type LinuxResources,
  LinuxResourcesSchema,
  type Process,
  ProcessSchema,
  type Spec,
  SpecSchema,
} from "../../agent/gen/oci_pb.ts";
import { InvalidArgumentError } from "../../common/errors.ts";

type Json = Record<string, unknown>;

function obj(v: unknown): Json {
  return v && typeof v === "object" && !Array.isArray(v) ? v as Json : {};
}
function arr(v: unknown): Json[] {
  return Array.isArray(v) ? v.map(obj) : [];
}
function strs(v: unknown): string[] {
  return Array.isArray(v) ? v.map(String) : [];
}
function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}
function u32(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0;
}
function big(v: unknown, what: string): bigint {
  if (v === undefined || v === null) return 0n;
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
  throw new InvalidArgumentError(`Invalid ${what} ${JSON.stringify(v)}: not an integer`);
}
function map(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(obj(v))) out[k] = String(x);
  return out;
}

/** Converts an OCI `process` object. */
export function toAgentProcess(p: Json): Process {
  const user = obj(p.user);
  const caps = p.capabilities ? obj(p.capabilities) : undefined;
  const box = p.consoleSize ? obj(p.consoleSize) : undefined;
  return create(ProcessSchema, {
    Terminal: p.terminal === true,
    ConsoleSize: box ? { Height: u32(box.height), Width: u32(box.width) } : undefined,
    User: {
      UID: u32(user.uid),
      GID: u32(user.gid),
      AdditionalGids: Array.isArray(user.additionalGids) ? user.additionalGids.map(u32) : [],
      Username: str(user.username),
    },
    Args: strs(p.args),
    Env: strs(p.env),
    Cwd: str(p.cwd) || "/",
    Capabilities: caps
      ? {
        Bounding: strs(caps.bounding),
        Effective: strs(caps.effective),
        Inheritable: strs(caps.inheritable),
        Permitted: strs(caps.permitted),
        Ambient: strs(caps.ambient),
      }
      : undefined,
    Rlimits: arr(p.rlimits).map((r) => ({
      Type: str(r.type),
      Hard: big(r.hard, "rlimit hard"),
      Soft: big(r.soft, "rlimit soft"),
    })),
    NoNewPrivileges: p.noNewPrivileges === true,
    ApparmorProfile: str(p.apparmorProfile),
    OOMScoreAdj: big(p.oomScoreAdj, "oomScoreAdj"),
    SelinuxLabel: str(p.selinuxLabel),
  });
}

function throttle(v: unknown) {
  return arr(v).map((d) => ({
    Major: big(d.major, "device major"),
    Minor: big(d.minor, "device minor"),
    Rate: big(d.rate, "throttle rate"),
  }));
}

/** Converts OCI `linux.resources` (also the body of an Update). */
export function toAgentResources(r: Json): LinuxResources {
  const mem = r.memory ? obj(r.memory) : undefined;
  const cpu = r.cpu ? obj(r.cpu) : undefined;
  const bio = r.blockIO ? obj(r.blockIO) : undefined;
  const net = r.network ? obj(r.network) : undefined;
  return create(LinuxResourcesSchema, {
    Devices: arr(r.devices).map((d) => ({
      Allow: d.allow === true,
      Type: str(d.type),
      Major: d.major === undefined ? -1n : big(d.major, "device major"),
      Minor: d.minor === undefined ? -1n : big(d.minor, "device minor"),
      Access: str(d.access),
    })),
    Memory: mem
      ? {
        Limit: big(mem.limit, "memory limit"),
        Reservation: big(mem.reservation, "memory reservation"),
        Swap: big(mem.swap, "memory swap"),
        Kernel: big(mem.kernel, "kernel memory"),
        KernelTCP: big(mem.kernelTCP, "kernel TCP memory"),
        Swappiness: big(mem.swappiness, "swappiness"),
        DisableOOMKiller: mem.disableOOMKiller === true,
      }
      : undefined,
    CPU: cpu
      ? {
        Shares: big(cpu.shares, "cpu shares"),
        Quota: big(cpu.quota, "cpu quota"),
        Period: big(cpu.period, "cpu period"),
        RealtimeRuntime: big(cpu.realtimeRuntime, "realtime runtime"),
        RealtimePeriod: big(cpu.realtimePeriod, "realtime period"),
        Cpus: str(cpu.cpus),
        Mems: str(cpu.mems),
      }
      : undefined,
    Pids: r.pids ? { Limit: big(obj(r.pids).limit, "pids limit") } : undefined,
    BlockIO: bio
      ? {
        Weight: u32(bio.weight),
        LeafWeight: u32(bio.leafWeight),
        WeightDevice: arr(bio.weightDevice).map((d) => ({
          Major: big(d.major, "device major"),
          Minor: big(d.minor, "device minor"),
          Weight: u32(d.weight),
          LeafWeight: u32(d.leafWeight),
        })),
        ThrottleReadBpsDevice: throttle(bio.throttleReadBpsDevice),
        ThrottleWriteBpsDevice: throttle(bio.throttleWriteBpsDevice),
        ThrottleReadIOPSDevice: throttle(bio.throttleReadIOPSDevice),
        ThrottleWriteIOPSDevice: throttle(bio.throttleWriteIOPSDevice),
      }
      : undefined,
    HugepageLimits: arr(r.hugepageLimits).map((h) => ({
      Pagesize: str(h.pageSize),
      Limit: big(h.limit, "hugepage limit"),
    })),
    Network: net
      ? {
        ClassID: u32(net.classID),
        Priorities: arr(net.priorities).map((p) => ({
          Name: str(p.name),
          Priority: u32(p.priority),
        })),
      }
      : undefined,
  });
}

/** How the spec is amended for the guest. */
interface AmendOptions {
  /** The rootfs path in the guest. */
  guestRootPath: string;
  /** The spec's mounts after volumes were re-pointed (defaults to the spec's own). */
  mounts?: readonly Json[];
  /** `[runtime] disable_guest_seccomp`. */
  disableGuestSeccomp?: boolean;
}

/** Converts an OCI spec for CreateContainer, with the amendments of the module doc. */
export function toAgentSpec(spec: Json, o: AmendOptions): Spec {
  const linux = obj(spec.linux);
  const root = obj(spec.root);
  const seccomp = linux.seccomp && !o.disableGuestSeccomp ? obj(linux.seccomp) : undefined;
  const rdt = linux.intelRdt ? obj(linux.intelRdt) : undefined;
  const idmap = (v: unknown) =>
    arr(v).map((m) => ({
      HostID: u32(m.hostID),
      ContainerID: u32(m.containerID),
      Size: u32(m.size),
    }));
  return create(SpecSchema, {
    Version: str(spec.ociVersion),
    Process: spec.process ? toAgentProcess(obj(spec.process)) : undefined,
    Root: { Path: o.guestRootPath, Readonly: root.readonly === true },
    Hostname: str(spec.hostname),
    Mounts: (o.mounts ?? arr(spec.mounts)).map((m) => ({
      destination: str(m.destination),
      source: str(m.source),
      type: str(m.type),
      options: strs(m.options),
    })),
    Annotations: map(spec.annotations),
    Linux: {
      UIDMappings: idmap(linux.uidMappings),
      GIDMappings: idmap(linux.gidMappings),
      Sysctl: map(linux.sysctl),
      Resources: linux.resources ? toAgentResources(obj(linux.resources)) : undefined,
      CgroupsPath: str(linux.cgroupsPath),
      Namespaces: arr(linux.namespaces)
        .filter((n) => n.type !== "network")
        .map((n) => ({ Type: str(n.type), Path: "" })),
      Devices: [],
      Seccomp: seccomp
        ? {
          DefaultAction: str(seccomp.defaultAction),
          Architectures: strs(seccomp.architectures),
          Flags: strs(seccomp.flags),
          Syscalls: arr(seccomp.syscalls).map((s) => ({
            Names: strs(s.names),
            Action: str(s.action),
            ErrnoRet: s.errnoRet === undefined
              ? { case: undefined }
              : { case: "errnoret" as const, value: u32(s.errnoRet) },
            Args: arr(s.args).map((a) => ({
              Index: big(a.index, "seccomp arg index"),
              Value: big(a.value, "seccomp arg value"),
              ValueTwo: big(a.valueTwo, "seccomp arg valueTwo"),
              Op: str(a.op),
            })),
          })),
        }
        : undefined,
      RootfsPropagation: str(linux.rootfsPropagation),
      MaskedPaths: strs(linux.maskedPaths),
      ReadonlyPaths: strs(linux.readonlyPaths),
      MountLabel: str(linux.mountLabel),
      IntelRdt: rdt ? { L3CacheSchema: str(rdt.l3CacheSchema) } : undefined,
    },
  });
}
