/**
 * Recording test doubles of OUR OWN interfaces (the `Hypervisor` driver
 * interface, the agent API and the sandbox network), for unit tests of the
 * VirtContainer runtime. They are not fakes of a VMM or of the Kata agent:
 * they only log the calls made to them, in one shared log, so tests can
 * assert the order of the whole sandbox lifecycle, and they can be told to
 * fail at a named call.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import {
  GuestDetailsResponseSchema,
  MetricsSchema,
  OOMEventSchema,
  ReadStreamResponseSchema,
  RoutesSchema,
  StatsContainerResponseSchema,
  WaitProcessResponseSchema,
  WriteStreamResponseSchema,
} from "../../agent/gen/agent_pb.ts";
import { VolumeStatsResponseSchema } from "../../agent/gen/csi_pb.ts";
import { HealthCheckResponseSchema } from "../../agent/gen/health_pb.ts";
import { InterfaceSchema } from "../../agent/gen/types_pb.ts";
import type { Device, NetworkDevice } from "../../hypervisor/device.ts";
import type {
  AgentSocket,
  Capabilities,
  Hypervisor,
  HypervisorState,
  VmExit,
  VmState,
} from "../../hypervisor/hypervisor.ts";
import type { AgentInterface } from "../../resource/network/agent_types.ts";
import type { NetworkDeviceSink } from "../../resource/network/endpoint.ts";
import type { AgentApi } from "../../runtimes/virt_container/agent_api.ts";
import type { SandboxNetwork } from "../../runtimes/virt_container/sandbox.ts";

/** The shared call log; `failAt` makes the named call throw once. */
export class CallLog {
  readonly calls: string[] = [];
  failAt: string | undefined;
  record(name: string): void {
    this.calls.push(name);
    if (this.failAt === name) {
      this.failAt = undefined;
      throw new Error(`injected failure at ${name}`);
    }
  }
  /** Calls after the first `name`. */
  after(name: string): string[] {
    const i = this.calls.indexOf(name);
    return i < 0 ? [] : this.calls.slice(i + 1);
  }
}

/** A recording `Hypervisor` (test double of our interface). */
export class RecordingHypervisor implements Hypervisor {
  vmState: VmState = "not_ready";
  readonly devices: Device[] = [];
  #exit!: (e: VmExit) => void;
  readonly #exited: Promise<VmExit>;
  constructor(
    readonly log: CallLog,
    readonly caps: Partial<Capabilities> = {},
    readonly kind: Hypervisor["kind"] = "qemu",
  ) {
    this.#exited = new Promise((r) => (this.#exit = r));
  }
  state(): VmState {
    return this.vmState;
  }
  prepareVm(): Promise<void> {
    this.log.record("hv.prepareVm");
    this.vmState = "prepared";
    return Promise.resolve();
  }
  startVm(): Promise<void> {
    this.log.record("hv.startVm");
    this.vmState = "started";
    return Promise.resolve();
  }
  bootVm(): Promise<void> {
    this.log.record("hv.bootVm");
    this.vmState = "running";
    return Promise.resolve();
  }
  stopVm(): Promise<void> {
    this.log.record("hv.stopVm");
    this.vmState = "stopped";
    this.#exit({ code: 0, signal: "SIGKILL" });
    return Promise.resolve();
  }
  /** Ends the VM as if the VMM died. */
  die(): void {
    this.vmState = "stopped";
    this.#exit({ code: 1, signal: null });
  }
  waitVm(): Promise<VmExit> {
    return this.#exited;
  }
  addDevice(d: Device): Promise<Device> {
    this.log.record(`hv.addDevice:${d.kind}`);
    this.devices.push(d);
    return Promise.resolve(d.kind === "block" ? { ...d, guestPath: "/dev/vdb" } : d);
  }
  removeDevice(d: Device): Promise<void> {
    this.log.record(`hv.removeDevice:${d.kind}`);
    return Promise.resolve();
  }
  agentSocket(): AgentSocket {
    return { kind: "vsock", cid: 3, port: 1024 };
  }
  pids(): number[] {
    return this.vmState === "started" || this.vmState === "running" ? [4242] : [];
  }
  capabilities(): Capabilities {
    return {
      blockDevice: true,
      blockHotplug: true,
      netHotplug: true,
      fsSharing: true,
      hybridVsock: false,
      // What QEMU says for the test configuration's block_device_driver = "virtio-scsi".
      agentBlockDriver: "scsi",
      ...this.caps,
    };
  }
  cleanup(): Promise<void> {
    this.log.record("hv.cleanup");
    return Promise.resolve();
  }
  saveState(): HypervisorState {
    return {
      hypervisor_type: this.kind,
      pid: 4242,
      uuid: "",
      api_socket: "",
      id: "sb",
      vm_path: "",
      jailed: false,
      jailer_root: "",
      netns: null,
      run_dir: "",
    };
  }
}

type Handlers = { [K in keyof AgentApi]?: (req: unknown) => Promise<unknown> };

/** A recording agent API (test double of our interface); process waits are released by hand. */
export class RecordingAgent {
  readonly requests: { method: string; req: unknown; options?: { timeoutMs?: number } }[] = [];
  readonly #waits = new Map<string, (status: number) => void>();
  closed = false;
  constructor(readonly log: CallLog, readonly handlers: Handlers = {}) {}

  /** Releases the WaitProcess of `cid`/`eid` with `status`. */
  exit(cid: string, eid: string, status: number): void {
    const key = `${cid}/${eid}`;
    const r = this.#waits.get(key);
    if (!r) throw new Error(`nobody waits for ${key}`);
    this.#waits.delete(key);
    r(status);
  }

  /** Whether someone waits for `cid`/`eid`. */
  waiting(cid: string, eid: string): boolean {
    return this.#waits.has(`${cid}/${eid}`);
  }

  api(): AgentApi {
    const call =
      <T>(method: keyof AgentApi, answer: () => T) =>
      (req: unknown, options?: { timeoutMs?: number }): Promise<T> => {
        this.log.record(`agent.${method}`);
        this.requests.push({ method, req, options });
        const h = this.handlers[method];
        return h ? h(req) as Promise<T> : Promise.resolve(answer());
      };
    const empty = () => create(EmptySchema);
    const never = <T>() => new Promise<T>(() => {});
    return {
      createSandbox: call("createSandbox", empty),
      getGuestDetails: call("getGuestDetails", () => create(GuestDetailsResponseSchema)),
      updateInterface: call("updateInterface", () => create(InterfaceSchema)),
      addARPNeighbors: call("addARPNeighbors", empty),
      updateRoutes: call("updateRoutes", () => create(RoutesSchema)),
      createContainer: call("createContainer", empty),
      startContainer: call("startContainer", empty),
      removeContainer: call("removeContainer", empty),
      execProcess: call("execProcess", empty),
      signalProcess: call("signalProcess", empty),
      waitProcess: (req, options) => {
        this.log.record("agent.waitProcess");
        this.requests.push({ method: "waitProcess", req, options });
        const r = req as { containerId: string; execId?: string };
        return new Promise((resolve) =>
          this.#waits.set(
            `${r.containerId}/${r.execId ?? ""}`,
            (status) => resolve(create(WaitProcessResponseSchema, { status })),
          )
        );
      },
      // Output reads are not logged (they loop); without a handler they report EOF.
      readStdout: (req, options) =>
        (this.handlers.readStdout?.({ ...req, options }) ??
          Promise.resolve(create(ReadStreamResponseSchema))) as ReturnType<AgentApi["readStdout"]>,
      readStderr: (req) =>
        (this.handlers.readStderr?.(req) ??
          Promise.resolve(create(ReadStreamResponseSchema))) as ReturnType<AgentApi["readStderr"]>,
      writeStdin: call("writeStdin", () => create(WriteStreamResponseSchema)),
      closeStdin: call("closeStdin", empty),
      ttyWinResize: call("ttyWinResize", empty),
      statsContainer: call("statsContainer", () => create(StatsContainerResponseSchema)),
      updateContainer: call("updateContainer", empty),
      pauseContainer: call("pauseContainer", empty),
      resumeContainer: call("resumeContainer", empty),
      copyFile: call("copyFile", empty),
      // The OOM watcher long-polls: it is left pending, like an agent with no OOM to report.
      getOOMEvent: () => never<ReturnType<typeof create<typeof OOMEventSchema>>>(),
      getMetrics: call("getMetrics", () => create(MetricsSchema)),
      getVolumeStats: call("getVolumeStats", () => create(VolumeStatsResponseSchema)),
      resizeVolume: call("resizeVolume", empty),
      reseedRandomDev: call("reseedRandomDev", empty),
      setGuestDateTime: call("setGuestDateTime", empty),
      check: call("check", () => create(HealthCheckResponseSchema, { status: 1 })),
      close: () => {
        this.log.record("agent.close");
        this.closed = true;
      },
    };
  }
}

/** A recording sandbox network (test double of our interface) with one interface. */
export class RecordingNetwork implements SandboxNetwork {
  queued = 0;
  constructor(readonly log: CallLog) {}
  attach(sink: NetworkDeviceSink): Promise<NetworkDevice[]> {
    this.log.record(`net.attach:${sink.state()}`);
    return Promise.resolve([]);
  }
  flushQueued(): Promise<NetworkDevice[]> {
    this.log.record("net.flushQueued");
    return Promise.resolve([]);
  }
  detach(): Promise<void> {
    this.log.record("net.detach");
    return Promise.resolve();
  }
  interfaces(): AgentInterface[] {
    return [{
      device: "eth0",
      name: "eth0",
      IPAddresses: [{ family: 0, address: "10.0.0.2", mask: "24" }],
      mtu: 1500,
      hwAddr: "02:00:00:00:00:02",
      devicePath: "",
      type: "",
      rawFlags: 0,
    }];
  }
  routes() {
    return [{
      dest: "",
      gateway: "10.0.0.1",
      device: "eth0",
      source: "",
      scope: 0,
      family: 0 as const,
      flags: 0,
      mtu: 0,
    }];
  }
  neighbours() {
    return [];
  }
}
