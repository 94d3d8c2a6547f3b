/**
 * A FAKE Firecracker API server, for tests only: no Firecracker binary can be
 * obtained here, so this serves Firecracker's HTTP API on a Unix socket and
 * enforces its documented rules (protocols.md §6, Firecracker's swagger):
 *
 * - state machine `Not started` → `Running` (`InstanceStart`) ⇄ `Paused`;
 * - pre-boot-only resources (boot-source, machine-config, drive and NIC PUTs,
 *   vsock) are refused after `InstanceStart` with 400 and Firecracker's
 *   `fault_message`; after boot only drive PATCH, NIC rate-limiter PATCH,
 *   `PATCH /vm` and post-boot actions are allowed (and not before boot);
 * - bodies: required fields, unknown fields refused, integer fields must be
 *   integers (`vcpu_count` 1..32), rate limiters must be objects, path ids must
 *   match body ids;
 * - files named in drives and the kernel must exist; the vsock socket is bound
 *   (so a second PUT /vsock on the same path fails as "address in use");
 * - a NIC's tap must exist in the server's network namespace (real
 *   Firecracker would open it by name there; Kata always creates it first).
 *
 * It runs no guest. Every request is appended as a JSON line to the file in
 * `FAKE_FC_REQUEST_LOG` when set, so tests can check the order of calls.
 * Run: `deno run -A fake_fc_server.ts --api-sock <path>` (what the
 * `fake-firecracker` script does).
 * @module
 */

type Json = Record<string, unknown>;
type FieldType = "string" | "bool" | "int" | "rate_limiter" | "object";
type Schema = Record<string, { type: FieldType; required?: boolean; min?: number; max?: number }>;

const RATE_LIMITER: Schema = {
  bandwidth: { type: "object" },
  ops: { type: "object" },
};
const TOKEN_BUCKET: Schema = {
  size: { type: "int", required: true, min: 0 },
  refill_time: { type: "int", required: true, min: 0 },
  one_time_burst: { type: "int", min: 0 },
};
const SCHEMAS: Record<string, Schema> = {
  "PUT /boot-source": {
    kernel_image_path: { type: "string", required: true },
    boot_args: { type: "string" },
    initrd_path: { type: "string" },
  },
  "PUT /machine-config": {
    vcpu_count: { type: "int", required: true, min: 1, max: 32 },
    mem_size_mib: { type: "int", required: true, min: 1 },
    smt: { type: "bool" },
    track_dirty_pages: { type: "bool" },
    cpu_template: { type: "string" },
    huge_pages: { type: "string" },
  },
  "PUT /drives": {
    drive_id: { type: "string", required: true },
    is_root_device: { type: "bool", required: true },
    path_on_host: { type: "string" },
    is_read_only: { type: "bool" },
    partuuid: { type: "string" },
    cache_type: { type: "string" },
    io_engine: { type: "string" },
    rate_limiter: { type: "rate_limiter" },
    socket: { type: "string" },
  },
  "PATCH /drives": {
    drive_id: { type: "string", required: true },
    path_on_host: { type: "string" },
    rate_limiter: { type: "rate_limiter" },
  },
  "PUT /network-interfaces": {
    iface_id: { type: "string", required: true },
    host_dev_name: { type: "string", required: true },
    guest_mac: { type: "string" },
    rx_rate_limiter: { type: "rate_limiter" },
    tx_rate_limiter: { type: "rate_limiter" },
    mtu: { type: "int", min: 68, max: 65535 },
  },
  "PATCH /network-interfaces": {
    iface_id: { type: "string", required: true },
    rx_rate_limiter: { type: "rate_limiter" },
    tx_rate_limiter: { type: "rate_limiter" },
  },
  "PUT /vsock": {
    guest_cid: { type: "int", required: true, min: 3, max: 0xffffffff },
    uds_path: { type: "string", required: true },
    vsock_id: { type: "string" },
  },
  "PUT /actions": { action_type: { type: "string", required: true } },
  "PATCH /vm": { state: { type: "string", required: true } },
};

class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const PRE_BOOT_ONLY = "The requested operation is not supported after starting the microVM.";
const POST_BOOT_ONLY = "The requested operation is not supported before starting the microVM.";

function check(body: Json, schema: Schema, what: string): void {
  for (const key of Object.keys(body)) {
    if (!(key in schema)) throw new ApiError(400, `${what}: unknown field \`${key}\``);
  }
  for (const [key, f] of Object.entries(schema)) {
    const v = body[key];
    if (v === undefined || v === null) {
      if (f.required) throw new ApiError(400, `${what}: missing field \`${key}\``);
      continue;
    }
    const bad = (expected: string) => {
      throw new ApiError(
        400,
        `${what}: invalid type: ${JSON.stringify(v)} for \`${key}\`, expected ${expected}`,
      );
    };
    switch (f.type) {
      case "string":
        if (typeof v !== "string") bad("a string");
        break;
      case "bool":
        if (typeof v !== "boolean") bad("a boolean");
        break;
      case "int":
        if (typeof v !== "number" || !Number.isInteger(v)) bad("an integer");
        if (f.min !== undefined && (v as number) < f.min) bad(`an integer >= ${f.min}`);
        if (f.max !== undefined && (v as number) > f.max) bad(`an integer <= ${f.max}`);
        break;
      case "object":
        if (typeof v !== "object" || Array.isArray(v)) bad("a struct");
        break;
      case "rate_limiter": {
        if (typeof v !== "object" || Array.isArray(v)) bad("struct RateLimiterConfig");
        check(v as Json, RATE_LIMITER, `${what} ${key}`);
        for (const b of ["bandwidth", "ops"]) {
          const bucket = (v as Json)[b];
          if (bucket !== undefined && bucket !== null) {
            check(bucket as Json, TOKEN_BUCKET, `${what} ${key}.${b}`);
          }
        }
        break;
      }
    }
  }
}

/** Options of {@link startFakeFirecracker}. */
export interface FakeFirecrackerOptions {
  apiSock: string;
  /** Where to append one JSON line per request. */
  requestLog?: string;
  /** Resolves relative paths (what a jailed VMM sees) against this directory. */
  pathRoot?: string;
}

/** A running fake; `close()` stops it and removes the sockets it made. */
export interface FakeFirecracker {
  state(): string;
  close(): Promise<void>;
  /** Resolves when a request asked the fake to exit (SendCtrlAltDel, as a guest reboot would). */
  exitRequested: Promise<void>;
}

/** Starts the fake API server on `opts.apiSock`. */
export function startFakeFirecracker(opts: FakeFirecrackerOptions): FakeFirecracker {
  let state: "Not started" | "Running" | "Paused" = "Not started";
  let bootSource: Json | null = null;
  let machineConfig: Json = { vcpu_count: 1, mem_size_mib: 128, smt: false };
  const drives = new Map<string, Json>();
  const nics = new Map<string, Json>();
  let vsock: Json | null = null;
  let vsockListener: Deno.Listener | null = null;
  let vsockPath = "";
  let requestExit: () => void = () => {};
  const exitRequested = new Promise<void>((r) => requestExit = r);
  const resolve = (p: string) => opts.pathRoot && !p.startsWith("/") ? `${opts.pathRoot}/${p}` : p;
  const mustExist = (p: string, what: string) => {
    try {
      Deno.statSync(resolve(p));
    } catch (e) {
      throw new ApiError(400, `Unable to open ${what} ${p}: ${(e as Error).message}`);
    }
  };
  const preBoot = () => {
    if (state !== "Not started") throw new ApiError(400, PRE_BOOT_ONLY);
  };
  const postBoot = () => {
    if (state === "Not started") throw new ApiError(400, POST_BOOT_ONLY);
  };
  const tapExists = (name: string) =>
    Deno.readTextFileSync("/proc/self/net/dev").split("\n").some((l) =>
      l.trim().startsWith(`${name}:`)
    );

  function handle(
    method: string,
    path: string,
    body: Json | null,
  ): { status: number; body?: Json } {
    const parts = path.split("/").filter(Boolean);
    const base = parts.length ? `/${parts[0]}` : "/";
    const key = `${method} ${base}`;
    const schema = SCHEMAS[key];
    if (schema) {
      if (!body) throw new ApiError(400, "Missing or empty request body");
      check(body, schema, key);
    }
    const idInPath = parts[1] ? decodeURIComponent(parts[1]) : "";
    switch (key) {
      case "GET /":
        return {
          status: 200,
          body: {
            id: "anonymous-instance",
            state,
            vmm_version: "1.12.1-fake",
            app_name: "Firecracker",
          },
        };
      case "GET /version":
        return { status: 200, body: { firecracker_version: "1.12.1-fake" } };
      case "GET /machine-config":
        return { status: 200, body: machineConfig };
      case "GET /vm": // GET /vm/config
        if (parts[1] !== "config") break;
        return {
          status: 200,
          body: {
            "boot-source": bootSource,
            "machine-config": machineConfig,
            drives: [...drives.values()],
            "network-interfaces": [...nics.values()],
            vsock,
          },
        };
      case "PUT /boot-source":
        preBoot();
        bootSource = body;
        return { status: 204 };
      case "PUT /machine-config":
        preBoot();
        machineConfig = body!;
        return { status: 204 };
      case "PATCH /machine-config":
        preBoot();
        machineConfig = { ...machineConfig, ...body };
        return { status: 204 };
      case "PUT /drives": {
        preBoot();
        if (body!.drive_id !== idInPath) {
          throw new ApiError(400, "The id from the path does not match the id from the body!");
        }
        if (typeof body!.path_on_host !== "string") {
          throw new ApiError(400, "Drive path_on_host is required for a virtio-block drive");
        }
        mustExist(body!.path_on_host as string, "block device file");
        if (body!.is_root_device) {
          for (const d of drives.values()) {
            if (d.is_root_device && d.drive_id !== idInPath) {
              throw new ApiError(400, "A root block device already exists!");
            }
          }
        }
        drives.set(idInPath, body!);
        return { status: 204 };
      }
      case "PATCH /drives": {
        postBoot();
        if (body!.drive_id !== idInPath) {
          throw new ApiError(400, "The id from the path does not match the id from the body!");
        }
        const d = drives.get(idInPath);
        if (!d) throw new ApiError(400, `Invalid block device ID: ${idInPath}`);
        if (body!.path_on_host) mustExist(body!.path_on_host as string, "block device file");
        drives.set(idInPath, { ...d, ...body });
        return { status: 204 };
      }
      case "PUT /network-interfaces": {
        preBoot();
        if (body!.iface_id !== idInPath) {
          throw new ApiError(400, "The id from the path does not match the id from the body!");
        }
        const mac = body!.guest_mac;
        if (mac !== undefined && !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac as string)) {
          throw new ApiError(400, `Invalid MAC address: ${mac}`);
        }
        const tap = body!.host_dev_name as string;
        if (tap.length > 15) throw new ApiError(400, `Invalid TAP device name: ${tap}`);
        for (const n of nics.values()) {
          if (n.host_dev_name === tap && n.iface_id !== idInPath) {
            throw new ApiError(400, `The host device name ${tap} is already in use`);
          }
        }
        if (!tapExists(tap)) {
          throw new ApiError(
            400,
            `Could not create the network device: Open tap device failed: ${tap}`,
          );
        }
        nics.set(idInPath, body!);
        return { status: 204 };
      }
      case "PATCH /network-interfaces": {
        postBoot();
        const n = nics.get(idInPath);
        if (!n || body!.iface_id !== idInPath) {
          throw new ApiError(400, `Invalid network interface ID: ${idInPath}`);
        }
        nics.set(idInPath, { ...n, ...body });
        return { status: 204 };
      }
      case "PUT /vsock": {
        preBoot();
        const p = resolve(body!.uds_path as string);
        try {
          const l = Deno.listen({ transport: "unix", path: p });
          // Accept and drop: no guest runs behind this fake.
          (async () => {
            for await (const c of l) c.close();
          })().catch(() => {});
          vsockListener?.close();
          vsockListener = l;
          vsockPath = p;
        } catch (e) {
          throw new ApiError(400, `Cannot create vsock device: ${(e as Error).message}`);
        }
        vsock = body;
        return { status: 204 };
      }
      case "PUT /actions":
        switch (body!.action_type) {
          case "InstanceStart":
            preBoot();
            if (!bootSource) {
              throw new ApiError(400, "Cannot start microvm without kernel configuration.");
            }
            mustExist(bootSource.kernel_image_path as string, "kernel");
            for (const d of drives.values()) {
              mustExist(d.path_on_host as string, "block device file");
            }
            state = "Running";
            return { status: 204 };
          case "SendCtrlAltDel":
            postBoot();
            requestExit();
            return { status: 204 };
          case "FlushMetrics":
            postBoot();
            return { status: 204 };
          default:
            throw new ApiError(400, `Invalid action type: ${body!.action_type}`);
        }
      case "PATCH /vm":
        postBoot();
        if (body!.state === "Paused") state = "Paused";
        else if (body!.state === "Resumed") state = "Running";
        else throw new ApiError(400, `Invalid VM state: ${body!.state}`);
        return { status: 204 };
    }
    throw new ApiError(400, `Invalid request method and/or path: ${method} ${path}.`);
  }

  const logRequest = (entry: Json) => {
    if (opts.requestLog) {
      Deno.writeTextFileSync(opts.requestLog, JSON.stringify(entry) + "\n", { append: true });
    }
  };

  const server = Deno.serve({ path: opts.apiSock, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const text = await req.text();
    let status: number;
    let resBody: Json | undefined;
    const stateBefore = state;
    let body: Json | null = null;
    try {
      if (text) {
        try {
          body = JSON.parse(text);
        } catch (e) {
          throw new ApiError(400, `Invalid JSON body: ${(e as Error).message}`);
        }
        if (typeof body !== "object" || body === null || Array.isArray(body)) {
          throw new ApiError(400, "The request body must be a JSON object");
        }
      }
      ({ status, body: resBody } = handle(req.method, url.pathname, body));
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      status = e.status;
      resBody = { fault_message: e.message };
    }
    logRequest({ method: req.method, path: url.pathname, body, status, state: stateBefore });
    return resBody === undefined
      ? new Response(null, { status })
      : Response.json(resBody, { status });
  });

  return {
    state: () => state,
    exitRequested,
    async close() {
      vsockListener?.close();
      await server.shutdown();
      for (const p of [opts.apiSock, vsockPath]) {
        if (p) await Deno.remove(p).catch(() => {});
      }
    },
  };
}

if (import.meta.main) {
  const args = Deno.args;
  const apiSock = args[args.indexOf("--api-sock") + 1];
  if (!args.includes("--api-sock") || !apiSock) {
    console.error("fake firecracker: --api-sock <path> is required");
    Deno.exit(1);
  }
  console.error(`fake firecracker (runtime-ts test double) serving ${apiSock}`);
  const fake = startFakeFirecracker({
    apiSock,
    requestLog: Deno.env.get("FAKE_FC_REQUEST_LOG"),
    pathRoot: Deno.env.get("FAKE_FC_PATH_ROOT"),
  });
  const stop = async () => {
    await fake.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  await fake.exitRequested;
  await stop();
}
