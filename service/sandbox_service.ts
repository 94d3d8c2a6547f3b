/**
 * containerd's `containerd.runtime.sandbox.v1.Sandbox` service (containerd
 * 2.x, `sandboxer = "shim"`): decodes each request, calls the runtime
 * handler's pod operations (runtimes/pod_sandbox.ts), and encodes the answer.
 * It shares the shim's runtime handler with the Task service
 * (service/runtime_slot.ts), so the pod's containers, which arrive through
 * Task Create, land in the sandbox this service made. Errors become status
 * codes here, at the boundary.
 * @module
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { getLogger } from "../common/log.ts";
import type { RuntimeHandler } from "../runtimes/handler.ts";
import { Sandbox } from "./gen/containerd/runtime/sandbox/v1/sandbox_pb.ts";
import { atBoundary } from "./errors.ts";
import { packEvent } from "./events.ts";
import { podConfigFromOptions } from "./pod_config.ts";
import type { RuntimeSlot } from "./runtime_slot.ts";

const log = getLogger("service.sandbox");

/** The CPU architecture names of OCI platforms, by Deno's. */
const ARCH: Record<string, string> = { x86_64: "amd64", aarch64: "arm64" };

/** What the Sandbox service needs from the shim around it. */
export interface SandboxServiceOptions {
  /** The handler slot shared with the Task service. */
  slot: RuntimeSlot;
  /** Called when ShutdownSandbox has released the pod: the shim exits once idle. */
  onShutdown: () => void;
}

/** The Sandbox service bound to one shim. */
export class SandboxService {
  constructor(readonly opts: SandboxServiceOptions) {}

  #need(id: string): RuntimeHandler {
    return this.opts.slot.need(`Sandbox "${id}"`);
  }

  /** The connect implementation; every method maps its errors at the boundary. */
  impl(): ServiceImpl<typeof Sandbox> {
    const wrap = atBoundary(log);
    return {
      createSandbox: wrap("CreateSandbox", async (req) => {
        const pod = podConfigFromOptions(req.options);
        // containerd's runtime options reach `start` only; its config path came along.
        const handler = await this.opts.slot.obtain(undefined);
        await handler.createSandbox({
          id: req.sandboxId,
          bundle: req.bundlePath,
          netnsPath: req.netnsPath,
          pod,
          annotations: { ...req.annotations },
          rootfs: req.rootfs.map((m) => ({
            type: m.type,
            source: m.source,
            target: m.target,
            options: [...m.options],
          })),
          configPath: this.opts.slot.defaultConfigPath,
        });
        return {};
      }),
      startSandbox: wrap("StartSandbox", async (req) => {
        const r = await this.#need(req.sandboxId).startSandbox(req.sandboxId);
        return { pid: r.pid, createdAt: timestampFromDate(r.createdAt) };
      }),
      platform: wrap("Platform", () =>
        Promise.resolve({
          platform: { os: "linux", architecture: ARCH[Deno.build.arch] ?? Deno.build.arch },
        })),
      stopSandbox: wrap("StopSandbox", async (req) => {
        await this.#need(req.sandboxId).stopSandbox(req.sandboxId, req.timeoutSecs);
        return {};
      }),
      waitSandbox: wrap("WaitSandbox", async (req) => {
        const e = await this.#need(req.sandboxId).waitSandbox(req.sandboxId);
        return { exitStatus: e.exitStatus, exitedAt: timestampFromDate(e.exitedAt) };
      }),
      sandboxStatus: wrap("SandboxStatus", async (req) => {
        const s = await this.#need(req.sandboxId).sandboxStatus(req.sandboxId, req.verbose);
        return {
          sandboxId: req.sandboxId,
          pid: s.pid,
          state: s.state === "ready" ? "SANDBOX_READY" : "SANDBOX_NOTREADY",
          info: s.info,
          createdAt: s.createdAt ? timestampFromDate(s.createdAt) : undefined,
          exitedAt: s.exitedAt ? timestampFromDate(s.exitedAt) : undefined,
        };
      }),
      pingSandbox: wrap("PingSandbox", async (req) => {
        await this.#need(req.sandboxId).sandboxStatus(req.sandboxId, false);
        return {};
      }),
      shutdownSandbox: wrap("ShutdownSandbox", async (req) => {
        const h = this.opts.slot.handler;
        // A shim whose CreateSandbox failed before a handler existed has nothing to release.
        if (h) await h.shutdownSandbox(req.sandboxId);
        if (!h || h.containerIds().length === 0) this.opts.onShutdown();
        return {};
      }),
      sandboxMetrics: wrap("SandboxMetrics", async (req) => {
        const s = await this.#need(req.sandboxId).sandboxMetrics(req.sandboxId);
        const { MetricsSchema } = s.version === 1
          ? await import("./gen/containerd/cgroups/v1/metrics_pb.ts")
          : await import("./gen/containerd/cgroups/v2/metrics_pb.ts");
        return {
          metrics: {
            timestamp: timestampFromDate(new Date()),
            id: req.sandboxId,
            data: packEvent(MetricsSchema, s.metrics as MessageInitShape<typeof MetricsSchema>),
          },
        };
      }),
    };
  }
}
