/**
 * Conversion of the OCI spec the shim sends (protobuf `grpc.Spec`) into the
 * OCI runtime-spec JSON that runc reads from config.json, and the changes the
 * agent makes for the guest (the container joins the VM's network namespace;
 * host hooks and host namespace paths mean nothing inside the guest).
 * @module
 */
import type { Hook, Hooks, Linux, LinuxResources, Process, Spec } from "../gen/oci_pb.ts";

/** OCI runtime-spec JSON (only the shape runc needs; values are plain JSON). */
export type OciSpec = Record<string, unknown>;

const num = (v: bigint | number): number => Number(v);

function nonEmpty<T>(xs: T[] | undefined): T[] | undefined {
  return xs && xs.length > 0 ? xs : undefined;
}

/** Drops keys whose value is undefined, so the JSON holds only what was set. */
function compact(o: Record<string, unknown>): Record<string, unknown> {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

/** OCI `process` from protobuf `Process`. */
export function processToOci(p: Process): OciSpec {
  return compact({
    terminal: p.Terminal || undefined,
    consoleSize: p.ConsoleSize
      ? { height: p.ConsoleSize.Height, width: p.ConsoleSize.Width }
      : undefined,
    user: compact({
      uid: p.User?.UID ?? 0,
      gid: p.User?.GID ?? 0,
      additionalGids: nonEmpty(p.User?.AdditionalGids),
      username: p.User?.Username || undefined,
    }),
    args: p.Args,
    env: nonEmpty(p.Env),
    cwd: p.Cwd || "/",
    capabilities: p.Capabilities
      ? compact({
        bounding: nonEmpty(p.Capabilities.Bounding),
        effective: nonEmpty(p.Capabilities.Effective),
        inheritable: nonEmpty(p.Capabilities.Inheritable),
        permitted: nonEmpty(p.Capabilities.Permitted),
        ambient: nonEmpty(p.Capabilities.Ambient),
      })
      : undefined,
    rlimits: nonEmpty(
      p.Rlimits.map((r) => ({ type: r.Type, hard: num(r.Hard), soft: num(r.Soft) })),
    ),
    noNewPrivileges: p.NoNewPrivileges || undefined,
    apparmorProfile: p.ApparmorProfile || undefined,
    oomScoreAdj: p.OOMScoreAdj !== 0n ? num(p.OOMScoreAdj) : undefined,
    selinuxLabel: p.SelinuxLabel || undefined,
  });
}

function hooksToOci(hooks: Hook[]): OciSpec[] | undefined {
  return nonEmpty(hooks.map((h) =>
    compact({
      path: h.Path,
      args: nonEmpty(h.Args),
      env: nonEmpty(h.Env),
      timeout: h.Timeout > 0n ? num(h.Timeout) : undefined,
    })
  ));
}

/** OCI `hooks` from protobuf `Hooks` (undefined when none). */
function hooksToOciHooks(h: Hooks | undefined): OciSpec | undefined {
  if (!h) return undefined;
  const out = compact({
    prestart: hooksToOci(h.Prestart),
    createRuntime: hooksToOci(h.CreateRuntime),
    createContainer: hooksToOci(h.CreateContainer),
    startContainer: hooksToOci(h.StartContainer),
    poststart: hooksToOci(h.Poststart),
    poststop: hooksToOci(h.Poststop),
  });
  return Object.keys(out).length > 0 ? out : undefined;
}

/** A positive number or undefined: 0 means "not set" in the protobuf spec. */
const set = (v: bigint | number): number | undefined => (num(v) !== 0 ? num(v) : undefined);
/** Device numbers: negative means "any" (left out). */
const devNum = (v: bigint): number | undefined => (v >= 0n ? num(v) : undefined);

/** OCI `linux.resources` from protobuf `LinuxResources`. */
export function resourcesToOci(r: LinuxResources): OciSpec {
  const throttle = (ds: { Major: bigint; Minor: bigint; Rate: bigint }[]) =>
    nonEmpty(ds.map((d) => ({ major: num(d.Major), minor: num(d.Minor), rate: num(d.Rate) })));
  return compact({
    devices: nonEmpty(r.Devices.map((d) =>
      compact({
        allow: d.Allow,
        type: d.Type || undefined,
        major: devNum(d.Major),
        minor: devNum(d.Minor),
        access: d.Access || undefined,
      })
    )),
    memory: r.Memory
      ? compact({
        limit: set(r.Memory.Limit),
        reservation: set(r.Memory.Reservation),
        swap: set(r.Memory.Swap),
        kernel: set(r.Memory.Kernel),
        kernelTCP: set(r.Memory.KernelTCP),
        swappiness: set(r.Memory.Swappiness),
        disableOOMKiller: r.Memory.DisableOOMKiller || undefined,
      })
      : undefined,
    cpu: r.CPU
      ? compact({
        shares: set(r.CPU.Shares),
        quota: set(r.CPU.Quota),
        period: set(r.CPU.Period),
        realtimeRuntime: set(r.CPU.RealtimeRuntime),
        realtimePeriod: set(r.CPU.RealtimePeriod),
        cpus: r.CPU.Cpus || undefined,
        mems: r.CPU.Mems || undefined,
      })
      : undefined,
    pids: r.Pids && r.Pids.Limit !== 0n ? { limit: num(r.Pids.Limit) } : undefined,
    blockIO: r.BlockIO
      ? compact({
        weight: set(r.BlockIO.Weight),
        leafWeight: set(r.BlockIO.LeafWeight),
        weightDevice: nonEmpty(r.BlockIO.WeightDevice.map((d) =>
          compact({
            major: num(d.Major),
            minor: num(d.Minor),
            weight: set(d.Weight),
            leafWeight: set(d.LeafWeight),
          })
        )),
        throttleReadBpsDevice: throttle(r.BlockIO.ThrottleReadBpsDevice),
        throttleWriteBpsDevice: throttle(r.BlockIO.ThrottleWriteBpsDevice),
        throttleReadIOPSDevice: throttle(r.BlockIO.ThrottleReadIOPSDevice),
        throttleWriteIOPSDevice: throttle(r.BlockIO.ThrottleWriteIOPSDevice),
      })
      : undefined,
    hugepageLimits: nonEmpty(
      r.HugepageLimits.map((h) => ({ pageSize: h.Pagesize, limit: num(h.Limit) })),
    ),
    network: r.Network
      ? compact({
        classID: set(r.Network.ClassID),
        priorities: nonEmpty(
          r.Network.Priorities.map((p) => ({ name: p.Name, priority: p.Priority })),
        ),
      })
      : undefined,
  });
}

function linuxToOci(l: Linux): OciSpec {
  const idMap = (m: { HostID: number; ContainerID: number; Size: number }) => ({
    containerID: m.ContainerID,
    hostID: m.HostID,
    size: m.Size,
  });
  return compact({
    uidMappings: nonEmpty(l.UIDMappings.map(idMap)),
    gidMappings: nonEmpty(l.GIDMappings.map(idMap)),
    sysctl: Object.keys(l.Sysctl).length > 0 ? { ...l.Sysctl } : undefined,
    resources: l.Resources ? resourcesToOci(l.Resources) : undefined,
    cgroupsPath: l.CgroupsPath || undefined,
    namespaces: l.Namespaces.map((n) => compact({ type: n.Type, path: n.Path || undefined })),
    devices: nonEmpty(l.Devices.map((d) =>
      compact({
        path: d.Path,
        type: d.Type,
        major: num(d.Major),
        minor: num(d.Minor),
        fileMode: d.FileMode || undefined,
        uid: d.UID,
        gid: d.GID,
      })
    )),
    seccomp: l.Seccomp
      ? compact({
        defaultAction: l.Seccomp.DefaultAction,
        architectures: nonEmpty(l.Seccomp.Architectures),
        flags: nonEmpty(l.Seccomp.Flags),
        syscalls: nonEmpty(l.Seccomp.Syscalls.map((s) =>
          compact({
            names: s.Names,
            action: s.Action,
            errnoRet: s.ErrnoRet.case === "errnoret" ? s.ErrnoRet.value : undefined,
            args: nonEmpty(s.Args.map((a) => ({
              index: num(a.Index),
              value: num(a.Value),
              valueTwo: num(a.ValueTwo),
              op: a.Op,
            }))),
          })
        )),
      })
      : undefined,
    rootfsPropagation: l.RootfsPropagation || undefined,
    maskedPaths: nonEmpty(l.MaskedPaths),
    readonlyPaths: nonEmpty(l.ReadonlyPaths),
    mountLabel: l.MountLabel || undefined,
    intelRdt: l.IntelRdt?.L3CacheSchema ? { l3CacheSchema: l.IntelRdt.L3CacheSchema } : undefined,
  });
}

/** The OCI runtime-spec JSON for protobuf `Spec`, unchanged in meaning. */
export function specToOci(s: Spec): OciSpec {
  return compact({
    ociVersion: s.Version || "1.0.2",
    process: s.Process ? processToOci(s.Process) : undefined,
    root: s.Root
      ? compact({ path: s.Root.Path, readonly: s.Root.Readonly || undefined })
      : undefined,
    hostname: s.Hostname || undefined,
    mounts: s.Mounts.map((m) =>
      compact({
        destination: m.destination,
        source: m.source || undefined,
        type: m.type || undefined,
        options: nonEmpty(m.options),
      })
    ),
    hooks: hooksToOciHooks(s.Hooks),
    annotations: Object.keys(s.Annotations).length > 0 ? { ...s.Annotations } : undefined,
    linux: s.Linux ? linuxToOci(s.Linux) : undefined,
  });
}

/** What the guest changes in a container's spec. */
interface GuestSpecOptions {
  containerId: string;
  /** Root file system path inside the guest (replaces the spec's when given). */
  rootfs?: string;
  /** Guest hooks (from CreateSandbox's guest_hook_path), replacing the host's. */
  guestHooks?: OciSpec;
  /**
   * Namespaces of the pod's sandbox container to join, by OCI type (`ipc`,
   * `uts`, `pid`) → guest path (`/proc/<pid>/ns/<type>`): a pod's containers
   * share them as they do on a host.
   */
  joinNamespaces?: Record<string, string>;
}

/**
 * Adapts a container spec to the guest: drops the network namespace (the
 * container shares the VM's), drops host namespace paths (joining the pod
 * sandbox's namespaces where given), replaces host hooks
 * with the guest's, and gives the cgroup a guest path runc's cgroupfs driver
 * accepts.
 */
export function adaptSpecForGuest(spec: OciSpec, opts: GuestSpecOptions): OciSpec {
  const out: OciSpec = structuredClone(spec);
  delete out.hooks;
  if (opts.guestHooks) out.hooks = opts.guestHooks;
  if (opts.rootfs) {
    out.root = { ...(out.root as Record<string, unknown> ?? {}), path: opts.rootfs };
  }
  const linux = (out.linux ?? {}) as Record<string, unknown>;
  const namespaces = (linux.namespaces ?? []) as { type: string; path?: string }[];
  const join = opts.joinNamespaces ?? {};
  const kept = namespaces.filter((n) => n.type !== "network").map((n) => n.type);
  // A pod sharing the sandbox's PID namespace may come without a pid entry.
  if (join.pid && !kept.includes("pid")) kept.push("pid");
  linux.namespaces = kept.map((type) => join[type] ? { type, path: join[type] } : { type });
  // runc sets the hostname only in a UTS namespace of the container's own.
  if (join.uts) delete out.hostname;
  const cgroupsPath = typeof linux.cgroupsPath === "string" ? linux.cgroupsPath : "";
  linux.cgroupsPath = cgroupsPath.startsWith("/") && !cgroupsPath.includes(":")
    ? cgroupsPath
    : `/kata/${opts.containerId}`;
  out.linux = linux;
  return out;
}
