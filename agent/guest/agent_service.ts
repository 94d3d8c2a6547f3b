/**
 * The `grpc.AgentService` and `grpc.Health` handlers: decode the request,
 * call the sandbox, encode the reply. Domain errors carry the status code
 * (the ttRPC server maps them); a failing request never stops the agent.
 * RPCs without a handler here answer Unimplemented.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type AgentService,
  GuestDetailsResponseSchema,
  InterfacesSchema,
  MetricsSchema,
  OOMEventSchema,
  ReadStreamResponseSchema,
  RoutesSchema,
  WriteStreamResponseSchema,
} from "../gen/agent_pb.ts";
import {
  type Health,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
  VersionCheckResponseSchema,
} from "../gen/health_pb.ts";
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import {
  FailedPreconditionError,
  InvalidArgumentError,
  UnimplementedError,
} from "../../common/errors.ts";
import { applyDevice, guestNodePath, readDeviceNode } from "./devices.ts";
import { processToOci, resourcesToOci, specToOci } from "./oci_spec.ts";
import type { GuestSandbox } from "./sandbox.ts";
import { getLogger } from "../../common/log.ts";
import * as net from "./network.ts";
import { readNetworkStats, statsFromRunc } from "./stats.ts";
import { readMetrics } from "./metrics.ts";
import { applyPlan, planStorage, resolvePciBlock } from "./storage.ts";
import { resizeVolume, volumeStats } from "./volume.ts";
import { reseedKernelRandom } from "../../ffi/random.ts";

const log = getLogger("agent.guest.rpc");

/** Version reported by Check/Version and GetGuestDetails. */
const AGENT_VERSION = "4.0.0-runtime-ts";

/** Largest chunk a ReadStdout/ReadStderr returns, whatever `len` asks. */
const MAX_READ = 1 << 20;

/** Health service: the agent is serving once it answers at all. */
export function healthService(): Partial<ServiceImpl<typeof Health>> {
  return {
    check: () =>
      create(HealthCheckResponseSchema, { status: HealthCheckResponse_ServingStatus.SERVING }),
    version: () =>
      create(VersionCheckResponseSchema, { grpcVersion: "ttrpc", agentVersion: AGENT_VERSION }),
  };
}

const empty = () => create(EmptySchema, {});

/** Writes one CopyFile chunk below /run (kata-agent's restriction). */
async function copyFile(
  req: {
    path: string;
    fileMode: number;
    dirMode: number;
    uid: number;
    gid: number;
    offset: bigint;
    data: Uint8Array;
  },
): Promise<void> {
  if (!req.path.startsWith("/run/") || req.path.split("/").includes("..")) {
    throw new InvalidArgumentError(
      `Cannot copy to "${req.path}": only paths under /run are allowed`,
    );
  }
  const dir = req.path.slice(0, req.path.lastIndexOf("/"));
  await Deno.mkdir(dir, { recursive: true, mode: req.dirMode & 0o7777 || 0o755 });
  const f = await Deno.open(req.path, {
    write: true,
    create: true,
    truncate: req.offset === 0n,
    mode: req.fileMode & 0o7777 || 0o644,
  });
  try {
    await f.seek(Number(req.offset), Deno.SeekMode.Start);
    let written = 0;
    while (written < req.data.length) written += await f.write(req.data.subarray(written));
  } finally {
    f.close();
  }
  await Deno.chmod(req.path, req.fileMode & 0o7777 || 0o644);
  if (req.uid >= 0 && req.gid >= 0) await Deno.chown(req.path, req.uid, req.gid).catch(() => {});
}

async function writeSysfs(path: string, value: string): Promise<boolean> {
  try {
    if ((await Deno.readTextFile(path)).trim() === value) return false;
    await Deno.writeTextFile(path, value);
    return true;
  } catch {
    return false;
  }
}

async function listDir(path: string): Promise<Deno.DirEntry[]> {
  const out: Deno.DirEntry[] = [];
  try {
    for await (const e of Deno.readDir(path)) out.push(e);
  } catch {
    // absent in this guest
  }
  return out;
}

/** Remounts `target` with new options (an ephemeral volume's new size). */
async function remount(target: string, options: string[]): Promise<void> {
  const out = await new Deno.Command("mount", {
    args: ["-o", ["remount", ...options].join(","), target],
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new FailedPreconditionError(
      `Cannot remount ${target}: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
}

/** Brings offline CPUs (up to `nbCpus`, 0 = all) and memory blocks online. */
async function onlineCpuMem(nbCpus: number, cpuOnly: boolean): Promise<void> {
  let onlined = 0;
  for (const e of await listDir("/sys/devices/system/cpu")) {
    if (!/^cpu\d+$/.test(e.name)) continue;
    if (nbCpus > 0 && onlined >= nbCpus) break;
    if (await writeSysfs(`/sys/devices/system/cpu/${e.name}/online`, "1")) onlined++;
  }
  if (cpuOnly) return;
  for (const e of await listDir("/sys/devices/system/memory")) {
    if (!/^memory\d+$/.test(e.name)) continue;
    const state = `/sys/devices/system/memory/${e.name}/state`;
    if ((await Deno.readTextFile(state).catch(() => "")).trim() === "offline") {
      await Deno.writeTextFile(state, "online").catch(() => {});
    }
  }
}

/** The AgentService implementation over `sandbox`. */
export function agentService(sandbox: GuestSandbox): Partial<ServiceImpl<typeof AgentService>> {
  return {
    async createSandbox(req) {
      await sandbox.create({
        id: req.sandboxId,
        hostname: req.hostname,
        dns: req.dns,
        storages: req.storages,
        guestHookPath: req.guestHookPath,
        sandboxPidns: req.sandboxPidns,
      });
      log.info("sandbox {id}: created", { id: req.sandboxId });
      for (const m of req.kernelModules) {
        const out = await new Deno.Command("modprobe", {
          args: [m.name, ...m.parameters],
          stderr: "piped",
        }).output();
        if (!out.success) {
          throw new FailedPreconditionError(
            `Cannot load kernel module ${m.name}: ${new TextDecoder().decode(out.stderr).trim()}`,
          );
        }
      }
      return empty();
    },
    async destroySandbox() {
      await sandbox.destroy();
      return empty();
    },
    async createContainer(req) {
      if (!req.OCI) {
        throw new InvalidArgumentError(`Cannot create "${req.containerId}": no OCI spec`);
      }
      if (req.sharedMounts.length > 0) {
        throw new UnimplementedError(
          `Cannot create "${req.containerId}": shared mounts are not supported`,
        );
      }
      let spec = specToOci(req.OCI);
      for (const d of req.devices) {
        const node = await readDeviceNode(await guestNodePath(d, (p) => resolvePciBlock(p)));
        spec = applyDevice(spec, d.containerPath, node);
      }
      await sandbox.createContainer(req.containerId, spec, req.storages, {
        sandboxPidns: req.sandboxPidns,
      });
      log.info("container {id}: created", { id: req.containerId });
      return empty();
    },
    async startContainer(req) {
      await sandbox.container(req.containerId).start();
      log.info("container {id}: started", { id: req.containerId });
      return empty();
    },
    async removeContainer(req) {
      await sandbox.removeContainer(req.containerId, req.timeout);
      log.info("container {id}: removed", { id: req.containerId });
      return empty();
    },
    async execProcess(req) {
      if (!req.process) throw new InvalidArgumentError(`Cannot exec "${req.execId}": no process`);
      await sandbox.container(req.containerId).exec(req.execId, processToOci(req.process));
      return empty();
    },
    async signalProcess(req) {
      await sandbox.container(req.containerId).process(req.execId).signal(req.signal);
      return empty();
    },
    async waitProcess(req) {
      const status = await sandbox.container(req.containerId).process(req.execId).wait();
      return { $typeName: "grpc.WaitProcessResponse", status };
    },
    async writeStdin(req) {
      const p = sandbox.container(req.containerId).process(req.execId);
      return create(WriteStreamResponseSchema, { len: await p.writeStdin(req.data) });
    },
    async readStdout(req) {
      const p = sandbox.container(req.containerId).process(req.execId);
      const len = req.len > 0 ? Math.min(req.len, MAX_READ) : MAX_READ;
      return create(ReadStreamResponseSchema, { data: await p.stdout.read(len) });
    },
    async readStderr(req) {
      const p = sandbox.container(req.containerId).process(req.execId);
      const len = req.len > 0 ? Math.min(req.len, MAX_READ) : MAX_READ;
      return create(ReadStreamResponseSchema, { data: await p.stderr.read(len) });
    },
    async closeStdin(req) {
      await sandbox.container(req.containerId).process(req.execId).closeStdin();
      return empty();
    },
    ttyWinResize(req) {
      sandbox.container(req.containerId).process(req.execId).resize(req.column, req.row);
      return empty();
    },
    async pauseContainer(req) {
      await sandbox.container(req.containerId).pause();
      return empty();
    },
    async resumeContainer(req) {
      await sandbox.container(req.containerId).resume();
      return empty();
    },
    async updateContainer(req) {
      await sandbox.container(req.containerId).update(
        req.resources ? resourcesToOci(req.resources) : {},
      );
      return empty();
    },
    async statsContainer(req) {
      const data = await sandbox.container(req.containerId).stats();
      return statsFromRunc(data, await readNetworkStats());
    },
    async updateInterface(req) {
      if (!req.interface) throw new InvalidArgumentError("UpdateInterface needs an interface");
      return await net.updateInterface(req.interface);
    },
    async updateRoutes(req) {
      return create(RoutesSchema, { Routes: await net.updateRoutes(req.routes?.Routes ?? []) });
    },
    async listInterfaces() {
      return create(InterfacesSchema, { Interfaces: await net.listInterfaces() });
    },
    async listRoutes() {
      return create(RoutesSchema, { Routes: await net.listRoutes() });
    },
    async addARPNeighbors(req) {
      await net.addNeighbors(req.neighbors?.ARPNeighbors ?? []);
      return empty();
    },
    async getGuestDetails(req) {
      let blockSize = 0n;
      if (req.memBlockSize) {
        const hex = await Deno.readTextFile("/sys/devices/system/memory/block_size_bytes")
          .catch(() => "0");
        blockSize = BigInt(`0x${hex.trim() || "0"}`);
      }
      return create(GuestDetailsResponseSchema, {
        memBlockSizeBytes: blockSize,
        supportMemHotplugProbe: false,
        agentDetails: {
          version: AGENT_VERSION,
          initDaemon: Deno.pid === 1,
          deviceHandlers: ["blk", "mmioblk", "scsi"],
          storageHandlers: [
            "9p",
            "virtio-fs",
            "blk",
            "mmioblk",
            "scsi",
            "ephemeral",
            "local",
            "overlayfs",
            "watchable-bind",
          ],
          supportsSeccomp: true,
        },
      });
    },
    async onlineCPUMem(req) {
      await onlineCpuMem(req.nbCpus, req.cpuOnly);
      return empty();
    },
    async getOOMEvent(_req, ctx) {
      return create(OOMEventSchema, { containerId: await sandbox.nextOomEvent(ctx.signal) });
    },
    async copyFile(req) {
      await copyFile(req);
      return empty();
    },
    setPolicy(req) {
      // Accept-all is the only policy this agent enforces.
      if (req.policy.trim()) {
        throw new UnimplementedError("SetPolicy with a policy is not supported: only accept-all");
      }
      return empty();
    },
    async setGuestDateTime(req) {
      const out = await new Deno.Command("date", { args: ["-s", `@${req.Sec}`], stdout: "null" })
        .output();
      if (!out.success) throw new FailedPreconditionError("Cannot set the guest clock");
      return empty();
    },
    async getMetrics() {
      return create(MetricsSchema, { metrics: await readMetrics() });
    },
    async updateEphemeralMounts(req) {
      for (const s of req.storages) {
        if (s.driver !== "ephemeral") {
          throw new InvalidArgumentError(
            `Cannot update ephemeral mount ${s.mountPoint}: driver "${s.driver}" is not ephemeral`,
          );
        }
        const plan = await planStorage(s, (p) => resolvePciBlock(p));
        const mounts = await Deno.readTextFile("/proc/mounts").catch(() => "");
        const mounted = mounts.split("\n").some((l) => l.split(" ")[1] === plan.target);
        if (mounted) {
          await remount(plan.target, plan.options);
        } else {
          await applyPlan(plan);
        }
      }
      return empty();
    },
    getVolumeStats(req) {
      return Promise.resolve(volumeStats(req.volumeGuestPath));
    },
    async resizeVolume(req) {
      await resizeVolume(req.volumeGuestPath, req.size);
      log.info("volume {path}: resized to {size} bytes", {
        path: req.volumeGuestPath,
        size: String(req.size),
      });
      return empty();
    },
    reseedRandomDev(req) {
      // Credited and reseeded (ffi/random.ts): a template clone's CRNG must not repeat its template's.
      reseedKernelRandom(req.data);
      return Promise.resolve(empty());
    },
  };
}
