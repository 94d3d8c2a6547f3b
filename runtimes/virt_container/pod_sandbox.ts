/**
 * A VM pod made through containerd 2.x's Sandbox API (`sandboxer = "shim"`):
 * no pause container exists. CreateSandbox records the pod; StartSandbox
 * boots its VM through the handler's one sandbox start path (the spec a
 * pause container would have given it is synthesized, pod_spec.ts); the
 * pod's containers then arrive through Task Create naming the sandbox and
 * join it as they join a pause container's VM. StopSandbox and
 * ShutdownSandbox end the VM in the one clean-up order (the handler's);
 * WaitSandbox settles when the VM ended, asked or not. The states:
 *
 *   created ──StartSandbox──▶ ready ──StopSandbox / VM death──▶ notready
 *      └──────────StopSandbox / a failed start──────────────────────┘
 * @module
 */
import { AlreadyExistsError, FailedPreconditionError, NotFoundError } from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import { readProcessMetrics } from "../../resource/cgroups/stats.ts";
import type { ContainerStats, ExitStatus } from "../handler.ts";
import type { CreateSandboxRequest, PodSandboxStatus } from "../pod_sandbox.ts";
import { podSandboxRequest, refuseHostNetworkSandbox } from "./pod_spec.ts";
import type { VirtSandbox } from "./sandbox.ts";
import type { SandboxRequest } from "./sandbox_build.ts";

const log = getLogger("runtimes.virt_container.pod");

/** What a pod needs from the handler that runs its VM and its containers. */
interface PodVmHost {
  /** The handler's sandbox, if it runs one (a pause container's, or this pod's). */
  sandbox(): VirtSandbox | undefined;
  /** Builds and starts the VM through the handler's one sandbox start path. */
  boot(req: SandboxRequest): Promise<void>;
  /**
   * Ends the VM in the one clean-up order (live tasks get their exit, the
   * VM is stopped, mounts undone, files removed) and reports it through
   * {@link VirtPod.vmEnded}; resolves at once without a VM, and with the
   * end under way when there is one (a VM death's clean-up).
   */
  end(): Promise<void>;
}

/** Options of a {@link VirtPod}; tests replace the host parts. */
interface VirtPodOptions {
  /** The pid StartSandbox reports: CRI writes `/proc/<pid>/ns/*` paths with it (the shim's). */
  pid?: number;
  /** Reads the metrics of a host process's cgroup (default: the host's cgroup files). */
  readMetrics?: (pid: number) => ContainerStats;
  /** The host's resolv.conf, for pods without DNS settings. */
  hostResolvConf?: string;
}

type PodState = "created" | "ready" | "notready";

interface Pod {
  id: string;
  req: SandboxRequest;
  state: PodState;
  createdAt?: Date;
  exit?: ExitStatus;
  exited: Promise<ExitStatus>;
  settle: (e: ExitStatus) => void;
}

/** `fn`'s value as a promise: a throw becomes a rejection, as a caller of an rpc expects. */
function promised<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e);
  }
}

/** The one Sandbox API pod of a VirtContainer handler. */
export class VirtPod {
  #pod: Pod | undefined;
  readonly #pid: number;

  constructor(readonly host: PodVmHost, readonly opts: VirtPodOptions = {}) {
    this.#pid = opts.pid ?? Deno.pid;
  }

  /** The pod's id, from CreateSandbox until ShutdownSandbox. */
  get id(): string | undefined {
    return this.#pod?.id;
  }

  #need(id: string, what: string): Pod {
    const pod = this.#pod;
    if (!pod || pod.id !== id) {
      throw new NotFoundError(
        `Cannot ${what} sandbox "${id}": ${
          pod ? `this shim runs sandbox "${pod.id}"` : "no such sandbox in this shim"
        }`,
      );
    }
    return pod;
  }

  /** Refuses a second sandbox in this shim (a pod's, or a sandbox container's), naming the one it runs. */
  #refuseSecond(id: string): void {
    const running = this.#pod?.id ?? this.host.sandbox()?.id;
    if (running !== undefined) {
      throw new AlreadyExistsError(
        `Cannot create sandbox "${id}": this shim runs sandbox "${running}" already`,
      );
    }
  }

  /**
   * Admits the sandbox container of a pod made the podsandbox way (or a
   * `ctr run` container): not beside another sandbox, not on the host network.
   */
  admitSandboxContainer(
    id: string,
    spec: Record<string, unknown>,
    annotations: Record<string, string>,
  ): void {
    this.#refuseSecond(id);
    refuseHostNetworkSandbox(id, spec, annotations);
  }

  /** Records the pod; refuses a second one, a shim running a pause container's VM, and host network. */
  create(req: CreateSandboxRequest): Promise<void> {
    return promised(() => this.#create(req));
  }

  #create(req: CreateSandboxRequest): void {
    this.#refuseSecond(req.id);
    const sandboxReq = podSandboxRequest(req, this.opts.hostResolvConf);
    let settle: (e: ExitStatus) => void = () => {};
    const exited = new Promise<ExitStatus>((r) => settle = r);
    this.#pod = { id: req.id, req: sandboxReq, state: "created", exited, settle };
    log.info("sandbox {id}: created (pod {ns}/{name})", {
      id: req.id,
      ns: req.pod.namespace,
      name: req.pod.name,
    });
  }

  /** Boots the pod's VM; returns the pid CRI gives the pod's containers' namespace paths. */
  async start(id: string): Promise<{ pid: number; createdAt: Date }> {
    const pod = this.#need(id, "start");
    if (pod.state !== "created") {
      throw new FailedPreconditionError(`Cannot start sandbox "${id}": it is ${pod.state}`);
    }
    try {
      await this.host.boot(pod.req);
    } catch (e) {
      this.vmEnded(1);
      throw e;
    }
    pod.state = "ready";
    pod.createdAt = new Date();
    return { pid: this.#pid, createdAt: pod.createdAt };
  }

  /**
   * Ends the VM (the pod's containers with it). A graceful stop belongs to
   * the containers, which CRI stops first: the VM itself is stopped at
   * once, as runtime-rs does, whatever `timeoutSecs` allows.
   */
  async stop(id: string, _timeoutSecs = 0): Promise<void> {
    const pod = this.#need(id, "stop");
    if (pod.state === "created") {
      this.vmEnded(0);
      return;
    }
    await this.#end();
  }

  async #end(): Promise<void> {
    await this.host.end();
    this.vmEnded(0);
  }

  /** Settles with the VM's end: 0 for a stop, 255 for a VM that died. */
  wait(id: string): Promise<ExitStatus> {
    return promised(() => this.#need(id, "wait for").exited);
  }

  /**
   * The VM ended (stopped or died; a failed start too): the pod is not
   * ready and WaitSandbox settles with `exitStatus` (the first end counts).
   */
  vmEnded(exitStatus: number): void {
    const pod = this.#pod;
    if (!pod || pod.exit) return;
    pod.state = "notready";
    pod.exit = { pid: this.#pid, exitStatus, exitedAt: new Date() };
    pod.settle(pod.exit);
  }

  status(id: string, verbose: boolean): Promise<PodSandboxStatus> {
    return promised(() => this.#status(id, verbose));
  }

  #status(id: string, verbose: boolean): PodSandboxStatus {
    const pod = this.#need(id, "report");
    const info: Record<string, string> = {};
    const sb = this.host.sandbox();
    if (verbose && sb && pod.state === "ready") {
      info.vmmPids = sb.parts.hypervisor.pids().join(",");
      info.hypervisor = sb.parts.hypervisor.kind;
      info.netns = sb.parts.netnsPath ?? "";
    }
    return {
      pid: pod.state === "ready" ? this.#pid : 0,
      state: pod.state,
      createdAt: pod.createdAt,
      exitedAt: pod.exit?.exitedAt,
      info,
    };
  }

  /** The host cgroup metrics of the pod's VMM (its sandbox or overhead cgroup). */
  metrics(id: string): Promise<ContainerStats> {
    return promised(() => this.#metrics(id));
  }

  #metrics(id: string): ContainerStats {
    const pod = this.#need(id, "read the metrics of");
    const sb = this.host.sandbox();
    if (pod.state !== "ready" || !sb) {
      throw new FailedPreconditionError(
        `Cannot read the metrics of sandbox "${id}": it is ${pod.state}`,
      );
    }
    const pid = sb.parts.hypervisor.pids()[0] ?? this.#pid;
    return (this.opts.readMetrics ?? readProcessMetrics)(pid);
  }

  /** Ends the VM if it still runs and forgets the pod; a shut-down pod is gone (NotFound after). */
  async shutdown(id: string): Promise<void> {
    const pod = this.#pod;
    // containerd retries a shutdown after a lost answer: a pod gone already is done.
    if (!pod) return;
    this.#need(id, "shut down");
    await this.#end();
    this.#pod = undefined;
  }
}
