/**
 * Firecracker API client: typed calls over the API socket. A 4xx/5xx reply
 * fails at once with Firecracker's `fault_message`; only a failed connect
 * (the socket not up yet) is retried, a bounded number of times.
 * @module
 */
import { RuntimeError, UnavailableError } from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import { type RateLimiterJson, rateLimiterJson, type TokenBucketJson } from "../device.ts";
import { HttpConnectError, httpUnixRequest } from "../http_unix.ts";

const log = getLogger("hypervisor.firecracker.api");

/** Firecracker answered with an error status. */
export class FirecrackerApiError extends RuntimeError {
  override readonly code = "Internal";
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly faultMessage: string,
  ) {
    super(`Firecracker API ${method} ${path} failed with status ${status}: ${faultMessage}`);
  }
}

/** Firecracker's JSON TokenBucket. */
type FcTokenBucket = TokenBucketJson;

/** Firecracker's JSON RateLimiter. */
type FcRateLimiter = RateLimiterJson;

/** Converts our rate limiter to Firecracker's JSON object (never a string). */
export const toFcRateLimiter = rateLimiterJson;

/** Body of `PUT /drives/{id}`. */
interface FcDrive {
  drive_id: string;
  path_on_host: string;
  is_root_device: boolean;
  is_read_only: boolean;
  rate_limiter?: FcRateLimiter;
}

/** Body of `PUT /network-interfaces/{id}`. */
interface FcNetworkInterface {
  iface_id: string;
  host_dev_name: string;
  guest_mac?: string;
  rx_rate_limiter?: FcRateLimiter;
  tx_rate_limiter?: FcRateLimiter;
}

/** `GET /` answer. */
interface FcInstanceInfo {
  id: string;
  state: "Not started" | "Running" | "Paused";
  vmm_version: string;
  app_name: string;
}

/** Options of {@link FirecrackerApi}. */
interface FirecrackerApiOptions {
  /** Connect attempts while the socket is not up (default 500). */
  connectAttempts?: number;
  /** Pause between connect attempts in ms (default 10). */
  connectIntervalMs?: number;
}

/** Client of one Firecracker instance's API socket. */
export class FirecrackerApi {
  readonly socketPath: string;
  readonly #attempts: number;
  readonly #intervalMs: number;

  constructor(socketPath: string, opts: FirecrackerApiOptions = {}) {
    this.socketPath = socketPath;
    this.#attempts = Math.max(1, opts.connectAttempts ?? 500);
    this.#intervalMs = opts.connectIntervalMs ?? 10;
  }

  /** Sends one request; returns the parsed JSON body (undefined for 204). */
  async request(method: string, path: string, body?: unknown): Promise<unknown> {
    let lastError: Error | undefined;
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      let res;
      try {
        res = await httpUnixRequest(this.socketPath, method, path, body);
      } catch (e) {
        if (!(e instanceof HttpConnectError)) {
          throw new UnavailableError(
            `Firecracker API ${method} ${path} failed: ${(e as Error).message}`,
            { cause: e },
          );
        }
        lastError = e;
        if (attempt < this.#attempts) await new Promise((r) => setTimeout(r, this.#intervalMs));
        continue;
      }
      log.debug("{method} {path} -> {status}", { method, path, status: res.status });
      if (res.status >= 400) {
        throw new FirecrackerApiError(method, path, res.status, faultMessage(res.body));
      }
      return res.body ? JSON.parse(res.body) : undefined;
    }
    throw new UnavailableError(
      `Firecracker API ${method} ${path} failed: socket not reachable after ${this.#attempts} attempts: ${lastError?.message}`,
      { cause: lastError },
    );
  }

  /** `PUT /boot-source`. */
  putBootSource(b: { kernel_image_path: string; boot_args?: string; initrd_path?: string }) {
    return this.request("PUT", "/boot-source", b);
  }

  /** `PUT /machine-config`; both fields must be integers. */
  putMachineConfig(m: { vcpu_count: number; mem_size_mib: number }) {
    return this.request("PUT", "/machine-config", m);
  }

  /** `PUT /drives/{id}` (pre-boot). */
  putDrive(d: FcDrive) {
    return this.request("PUT", `/drives/${encodeURIComponent(d.drive_id)}`, d);
  }

  /** `PATCH /drives/{id}` (post-boot): re-point a drive or change its rate limiter. */
  patchDrive(d: { drive_id: string; path_on_host?: string; rate_limiter?: FcRateLimiter }) {
    return this.request("PATCH", `/drives/${encodeURIComponent(d.drive_id)}`, d);
  }

  /** `PUT /network-interfaces/{id}` (pre-boot). */
  putNetworkInterface(n: FcNetworkInterface) {
    return this.request("PUT", `/network-interfaces/${encodeURIComponent(n.iface_id)}`, n);
  }

  /** `PUT /vsock` (pre-boot, once). */
  putVsock(v: { guest_cid: number; uds_path: string; vsock_id?: string }) {
    return this.request("PUT", "/vsock", v);
  }

  /** `PUT /actions`. */
  action(actionType: "InstanceStart" | "SendCtrlAltDel" | "FlushMetrics") {
    return this.request("PUT", "/actions", { action_type: actionType });
  }

  /** `GET /`. */
  async instanceInfo(): Promise<FcInstanceInfo> {
    return await this.request("GET", "/") as FcInstanceInfo;
  }
}

function faultMessage(body: string): string {
  try {
    const j = JSON.parse(body);
    if (j && typeof j.fault_message === "string") return j.fault_message;
  } catch { /* not JSON: report the text */ }
  return body.trim() || "(empty body)";
}
