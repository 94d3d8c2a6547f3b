/**
 * The network resource of a sandbox: scans the pod namespace, keeps one
 * endpoint per pod link, and gives their NICs to the VM. For a VM that
 * cannot hotplug NICs (Firecracker) the NICs found before boot are queued
 * and added by {@link NetworkResource.flushQueued} at boot; a NIC found once
 * such a VM runs is refused with a logged error, never dropped silently.
 * @module
 */
import {
  FailedPreconditionError,
  InvalidArgumentError,
  MultipleErrors,
} from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import type { NetworkDevice } from "../../hypervisor/device.ts";
import type { AgentARPNeighbor, AgentInterface, AgentRoute } from "./agent_types.ts";
import type { ModelName } from "./classify.ts";
import { createEndpoint } from "./create_endpoint.ts";
import type { Endpoint, NetworkDeviceSink } from "./endpoint.ts";
import { scanNetns } from "./scan.ts";
import { type Plumbing, unplumb } from "./plumbing.ts";
import { withRtNetlink } from "../../ffi/netlink.ts";

const log = getLogger("resource.network");

/** Options of a {@link NetworkResource}. */
interface NetworkOptions {
  /** `[runtime] internetworking_model`. */
  model: ModelName;
  /** `[hypervisor.*] network_queues`; 1 = single-queue taps. */
  queues: number;
}

/** See the module documentation. */
export class NetworkResource {
  readonly #endpoints = new Map<string, Endpoint>();
  /** Endpoints plumbed but waiting for a non-hotplug VM to boot. */
  readonly #queued: Endpoint[] = [];
  readonly #attached = new Set<Endpoint>();

  constructor(readonly netns: string, readonly opts: NetworkOptions) {
    if (!Number.isInteger(opts.queues) || opts.queues < 1) {
      throw new InvalidArgumentError(`Invalid network queue count ${opts.queues}: must be >= 1`);
    }
  }

  /**
   * Scans the namespace and returns the endpoints of links not seen before
   * (all of them on the first call). Unsupported links throw naming the link.
   */
  scan(): Endpoint[] {
    const fresh: Endpoint[] = [];
    const found = scanNetns(this.netns);
    if (this.opts.model === "l3forwarding" && found.length > 1) {
      throw new InvalidArgumentError(
        `Internetworking model "l3forwarding" supports one interface per network namespace, found ${found.length}`,
      );
    }
    for (const s of found) {
      if (this.#endpoints.has(s.link.name)) continue;
      const ep = createEndpoint(this.netns, s, this.opts.model, this.opts.queues);
      this.#endpoints.set(ep.name, ep);
      fresh.push(ep);
    }
    return fresh;
  }

  /** Every endpoint known so far. */
  endpoints(): Endpoint[] {
    return [...this.#endpoints.values()];
  }

  /**
   * Rescans and gives every new endpoint to the VM: added now when the VM
   * can hotplug NICs or nothing runs yet in a VM that takes devices before
   * boot, queued for {@link flushQueued} otherwise. A new link on a running VM
   * without NIC hotplug is an error (logged and thrown).
   */
  async attach(sink: NetworkDeviceSink): Promise<NetworkDevice[]> {
    const fresh = this.scan();
    const hotplug = sink.capabilities().netHotplug;
    const running = sink.state() === "running";
    if (!hotplug && running && fresh.length > 0) {
      const names = fresh.map((e) => e.name).join(", ");
      for (const ep of fresh) this.#endpoints.delete(ep.name);
      const msg =
        `Cannot add network device for ${names}: the VM is running and its hypervisor cannot hotplug NICs`;
      log.error(msg);
      throw new FailedPreconditionError(msg);
    }
    const added: NetworkDevice[] = [];
    for (const ep of fresh) {
      if (!hotplug) {
        ep.plumb();
        this.#queued.push(ep);
        log.info(`network device for ${ep.name} queued until the VM boots`);
        continue;
      }
      added.push(await ep.attach(sink));
      this.#attached.add(ep);
    }
    return added;
  }

  /** Number of endpoints waiting for boot. */
  queuedCount(): number {
    return this.#queued.length;
  }

  /** Adds the queued NICs; call right before the guest boots. */
  async flushQueued(sink: NetworkDeviceSink): Promise<NetworkDevice[]> {
    const added: NetworkDevice[] = [];
    while (this.#queued.length > 0) {
      const ep = this.#queued[0];
      added.push(await ep.attach(sink));
      this.#attached.add(ep);
      this.#queued.shift();
    }
    return added;
  }

  /** Removes every NIC and all host plumbing; reports every failure after trying all. */
  async detach(sink: NetworkDeviceSink): Promise<void> {
    const errors: unknown[] = [];
    for (const ep of [...this.#endpoints.values()].reverse()) {
      try {
        if (this.#attached.has(ep)) await ep.detach(sink);
        else ep.unplumb();
      } catch (e) {
        errors.push(e);
      }
    }
    this.#attached.clear();
    this.#queued.length = 0;
    this.#endpoints.clear();
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new MultipleErrors(errors, "Detaching the pod network failed");
  }

  /** What the endpoints created on the host, for the sandbox's persisted state. */
  plumbings(): Plumbing[] {
    return this.endpoints().map((e) => e.plumbing()).filter((p): p is Plumbing => !!p);
  }

  /**
   * Removes plumbing recorded by an earlier process (a restarted shim's
   * cleanup), in reverse order; reports every failure after trying all.
   */
  static removeRecorded(netns: string, recorded: Plumbing[]): void {
    const errors: unknown[] = [];
    withRtNetlink(netns, (nl) => {
      for (const rec of [...recorded].reverse()) {
        try {
          unplumb(nl, rec);
        } catch (e) {
          errors.push(e);
        }
      }
    });
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) {
      throw new MultipleErrors(errors, `Removing the pod network plumbing of ${netns} failed`);
    }
  }

  /** The `Interface` of every endpoint, for UpdateInterface. */
  interfaces(): AgentInterface[] {
    return this.endpoints().map((e) => e.agentInterface());
  }

  /** The routes of every endpoint, for UpdateRoutes. */
  routes(): AgentRoute[] {
    return this.endpoints().flatMap((e) => e.routes());
  }

  /** The permanent neighbours of every endpoint, for AddARPNeighbors. */
  neighbours(): AgentARPNeighbor[] {
    return this.endpoints().flatMap((e) => e.neighbours());
  }
}
