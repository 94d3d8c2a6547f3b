/**
 * Cloud Hypervisor REST client (`/api/v1/...` over the API socket). An error
 * status fails at once with CH's body text; only a failed connect (socket not
 * up yet) is retried, a bounded number of times.
 * @module
 */
import { RuntimeError, UnavailableError } from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import { HttpConnectError, httpUnixRequest } from "../http_unix.ts";

const log = getLogger("hypervisor.clh.api");

/** Cloud Hypervisor answered with an error status. */
export class ClhApiError extends RuntimeError {
  override readonly code = "Internal";
  constructor(readonly endpoint: string, readonly status: number, readonly body: string) {
    super(
      `Cloud Hypervisor API ${endpoint} failed with status ${status}: ${body || "(empty body)"}`,
    );
  }
}

/** `PciDeviceInfo`, returned by a hotplug into a running VM. */
interface ClhPciDeviceInfo {
  id: string;
  bdf: string;
}

/** Client of one Cloud Hypervisor API socket. */
export class ClhApi {
  constructor(
    readonly socketPath: string,
    readonly connectAttempts = 500,
    readonly connectIntervalMs = 10,
  ) {}

  /** Calls `method /api/v1/<endpoint>`; returns the parsed body (undefined for 204). */
  async call(method: "GET" | "PUT", endpoint: string, body?: unknown): Promise<unknown> {
    let last: Error | undefined;
    for (let attempt = 1; attempt <= this.connectAttempts; attempt++) {
      let res;
      try {
        res = await httpUnixRequest(this.socketPath, method, `/api/v1/${endpoint}`, body);
      } catch (e) {
        if (!(e instanceof HttpConnectError)) {
          throw new UnavailableError(
            `Cloud Hypervisor API ${endpoint} failed: ${(e as Error).message}`,
            {
              cause: e,
            },
          );
        }
        last = e;
        if (attempt < this.connectAttempts) {
          await new Promise((r) => setTimeout(r, this.connectIntervalMs));
        }
        continue;
      }
      log.debug("{method} {endpoint} -> {status}", { method, endpoint, status: res.status });
      if (res.status >= 400) throw new ClhApiError(endpoint, res.status, res.body.trim());
      if (!res.body) return undefined;
      try {
        return JSON.parse(res.body);
      } catch {
        return res.body;
      }
    }
    throw new UnavailableError(
      `Cloud Hypervisor API ${endpoint} failed: socket not reachable after ${this.connectAttempts} attempts: ${last?.message}`,
      { cause: last },
    );
  }

  /** `PUT vm.add-<kind>`; returns the PCI info when hotplugged, undefined when cold-added. */
  async addDevice(
    kind: "net" | "disk" | "fs",
    config: unknown,
  ): Promise<ClhPciDeviceInfo | undefined> {
    return await this.call("PUT", `vm.add-${kind}`, config) as ClhPciDeviceInfo | undefined;
  }
}
