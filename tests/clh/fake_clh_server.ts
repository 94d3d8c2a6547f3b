/**
 * A FAKE Cloud Hypervisor API server, for tests only: no cloud-hypervisor
 * binary is obtainable here. It serves the REST API (`/api/v1/...`) on the
 * `--api-socket` Unix socket and enforces the documented rules
 * (protocols.md §7.1, CH's OpenAPI):
 *
 * - VM states: none → `Created` (vm.create) → `Running` (vm.boot) ⇄
 *   `Paused` → `Shutdown`; `vm.*` calls other than create answer 404 when
 *   no VM exists;
 * - `vm.create` needs `payload`; `cpus.boot_vcpus`/`max_vcpus` and
 *   `memory.size` are integers; virtio-fs (`fs`) needs `memory.shared = true`;
 *   vsock `cid` >= 3 with a `socket`;
 * - `vm.add-net|disk|fs`: 204 before boot (cold-added), 200 with
 *   `PciDeviceInfo {id, bdf}` once running, 409 on a duplicate id;
 * - a disk's file and the kernel must exist; a NIC's tap must exist in the
 *   server's network namespace (taps are opened by name); the vsock socket
 *   is bound at boot.
 *
 * Error bodies are plain text (inferred from CH's api_client; the exact text
 * and the status of errors other than 404/409 are not CH's). No guest runs.
 * Every request is appended as a JSON line to `FAKE_CH_REQUEST_LOG` when set.
 * @module
 */

type Json = Record<string, unknown>;

class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const isInt = (v: unknown) => typeof v === "number" && Number.isInteger(v);

function tapExists(name: string): boolean {
  return Deno.readTextFileSync("/proc/self/net/dev").split("\n").some((l) =>
    l.trim().startsWith(`${name}:`)
  );
}

function mustExist(p: unknown, what: string): void {
  if (typeof p !== "string") throw new ApiError(400, `${what} path is missing`);
  try {
    Deno.statSync(p);
  } catch (e) {
    throw new ApiError(500, `Cannot open ${what} ${p}: ${(e as Error).message}`);
  }
}

function checkNet(n: Json): void {
  if (typeof n.tap !== "string") {
    throw new ApiError(400, "NetConfig: tap must be a string (fds are not used here)");
  }
  if (n.num_queues !== undefined && (!isInt(n.num_queues) || (n.num_queues as number) % 2)) {
    throw new ApiError(400, "NetConfig: num_queues must be an even integer");
  }
  if (!tapExists(n.tap)) {
    throw new ApiError(500, `Error creating net device: cannot open tap ${n.tap}`);
  }
}

/** Starts the fake on `apiSock`; resolves `exitRequested` on `vmm.shutdown`. */
export function startFakeCloudHypervisor(apiSock: string, requestLog?: string) {
  let vm: { config: Json; state: "Created" | "Running" | "Paused" | "Shutdown" } | null = null;
  let vsockListener: Deno.Listener | null = null;
  let vsockPath = "";
  let exit: () => void = () => {};
  const exitRequested = new Promise<void>((r) => exit = r);
  let nextSlot = 2;

  const ids = () => {
    const c = vm!.config;
    return new Set(
      ["disks", "net", "fs"].flatMap((k) => ((c[k] as Json[] | undefined) ?? []).map((d) => d.id)),
    );
  };

  function handle(
    method: string,
    endpoint: string,
    body: Json | null,
  ): { status: number; body?: unknown } {
    const needVm = () => {
      if (!vm) throw new ApiError(404, "VM is not created");
      return vm;
    };
    switch (`${method} ${endpoint}`) {
      case "GET vmm.ping":
        return {
          status: 200,
          body: { build_version: "fake", version: "v45.0-fake", pid: Deno.pid },
        };
      case "PUT vmm.shutdown":
        exit();
        return { status: 204 };
      case "GET vm.info": {
        const v = needVm();
        return { status: 200, body: { config: v.config, state: v.state } };
      }
      case "PUT vm.create": {
        if (vm) throw new ApiError(500, "VM is already created");
        const c = body ?? {};
        const payload = c.payload as Json | undefined;
        if (!payload || typeof payload.kernel !== "string") {
          throw new ApiError(400, "VmConfig: payload with a kernel is required");
        }
        const cpus = c.cpus as Json | undefined;
        if (
          cpus &&
          (!isInt(cpus.boot_vcpus) || !isInt(cpus.max_vcpus) ||
            (cpus.boot_vcpus as number) > (cpus.max_vcpus as number))
        ) {
          throw new ApiError(
            400,
            "CpusConfig: boot_vcpus and max_vcpus must be integers, boot <= max",
          );
        }
        const mem = c.memory as Json | undefined;
        if (mem && !isInt(mem.size)) {
          throw new ApiError(400, "MemoryConfig: size must be an integer (bytes)");
        }
        if ((c.fs as Json[] | undefined)?.length && !mem?.shared) {
          throw new ApiError(400, "virtio-fs needs shared memory: set memory.shared = true");
        }
        const vs = c.vsock as Json | undefined;
        if (vs && (!isInt(vs.cid) || (vs.cid as number) < 3 || typeof vs.socket !== "string")) {
          throw new ApiError(400, "VsockConfig: cid >= 3 and socket are required");
        }
        for (const n of (c.net as Json[] | undefined) ?? []) checkNet(n);
        for (const d of (c.disks as Json[] | undefined) ?? []) mustExist(d.path, "disk");
        vm = { config: c, state: "Created" };
        return { status: 204 };
      }
      case "PUT vm.boot": {
        const v = needVm();
        if (v.state !== "Created") throw new ApiError(500, `VM cannot boot: it is ${v.state}`);
        mustExist((v.config.payload as Json).kernel, "kernel");
        const vs = v.config.vsock as Json | undefined;
        if (vs) {
          try {
            vsockListener = Deno.listen({ transport: "unix", path: vs.socket as string });
            vsockPath = vs.socket as string;
            (async () => {
              for await (const conn of vsockListener!) conn.close();
            })().catch(() => {});
          } catch (e) {
            throw new ApiError(500, `Cannot bind vsock socket: ${(e as Error).message}`);
          }
        }
        v.state = "Running";
        return { status: 204 };
      }
      case "PUT vm.pause": {
        const v = needVm();
        if (v.state !== "Running") throw new ApiError(500, `VM cannot pause: it is ${v.state}`);
        v.state = "Paused";
        return { status: 204 };
      }
      case "PUT vm.resume": {
        const v = needVm();
        if (v.state !== "Paused") throw new ApiError(500, `VM cannot resume: it is ${v.state}`);
        v.state = "Running";
        return { status: 204 };
      }
      case "PUT vm.shutdown":
        needVm().state = "Shutdown";
        return { status: 204 };
      case "PUT vm.resize": {
        const v = needVm();
        if (v.state !== "Running") throw new ApiError(500, "VM is not running");
        const cpus = v.config.cpus as Json;
        if (body?.desired_vcpus !== undefined) {
          if (
            !isInt(body.desired_vcpus) ||
            (body.desired_vcpus as number) > (cpus.max_vcpus as number)
          ) {
            throw new ApiError(400, "desired_vcpus must be an integer <= max_vcpus");
          }
          cpus.boot_vcpus = body.desired_vcpus;
        }
        if (body?.desired_ram !== undefined && !isInt(body.desired_ram)) {
          throw new ApiError(400, "desired_ram must be an integer (bytes)");
        }
        return { status: 204 };
      }
      case "PUT vm.add-net":
      case "PUT vm.add-disk":
      case "PUT vm.add-fs": {
        const v = needVm();
        const b = body ?? {};
        if (typeof b.id === "string" && ids().has(b.id)) {
          throw new ApiError(409, `Identifier ${b.id} is not unique`);
        }
        const key = endpoint === "vm.add-net" ? "net" : endpoint === "vm.add-disk" ? "disks" : "fs";
        if (key === "net") checkNet(b);
        if (key === "disks") mustExist(b.path, "disk");
        if (key === "fs" && !(v.config.memory as Json | undefined)?.shared) {
          throw new ApiError(400, "virtio-fs needs shared memory: set memory.shared = true");
        }
        const id = (b.id as string | undefined) ?? `_${key}${ids().size}`;
        v.config[key] = [...((v.config[key] as Json[] | undefined) ?? []), { ...b, id }];
        if (v.state === "Created") return { status: 204 };
        return {
          status: 200,
          body: { id, bdf: `0000:00:${(nextSlot++).toString(16).padStart(2, "0")}.0` },
        };
      }
      case "PUT vm.remove-device": {
        const v = needVm();
        const id = body?.id;
        if (!ids().has(id)) throw new ApiError(404, `No device with id ${id}`);
        for (const k of ["disks", "net", "fs"]) {
          v.config[k] = ((v.config[k] as Json[] | undefined) ?? []).filter((d) => d.id !== id);
        }
        return { status: 204 };
      }
    }
    throw new ApiError(404, `Unknown endpoint ${method} ${endpoint}`);
  }

  const server = Deno.serve({ path: apiSock, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const text = await req.text();
    let body: Json | null = null;
    let status: number;
    let out: unknown;
    try {
      if (!url.pathname.startsWith("/api/v1/")) throw new ApiError(404, "Not found");
      if (text) {
        try {
          body = JSON.parse(text);
        } catch (e) {
          throw new ApiError(400, `Invalid JSON: ${(e as Error).message}`);
        }
      }
      ({ status, body: out } = handle(req.method, url.pathname.slice("/api/v1/".length), body));
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      status = e.status;
      out = e.message;
    }
    if (requestLog) {
      Deno.writeTextFileSync(
        requestLog,
        JSON.stringify({
          method: req.method,
          path: url.pathname,
          body,
          status,
          state: vm?.state ?? null,
        }) + "\n",
        { append: true },
      );
    }
    if (out === undefined) return new Response(null, { status });
    return typeof out === "string"
      ? new Response(out, { status, headers: { "content-type": "text/plain" } })
      : Response.json(out, { status });
  });

  return {
    exitRequested,
    async close() {
      vsockListener?.close();
      await server.shutdown();
      for (const p of [apiSock, vsockPath]) if (p) await Deno.remove(p).catch(() => {});
    },
  };
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--api-socket");
  const raw = i >= 0 ? Deno.args[i + 1] : undefined;
  if (!raw) {
    console.error("fake cloud-hypervisor: --api-socket path=<path> is required");
    Deno.exit(1);
  }
  const sock = raw.startsWith("path=") ? raw.slice(5) : raw;
  console.error(`fake cloud-hypervisor (runtime-ts test double) serving ${sock}`);
  const fake = startFakeCloudHypervisor(sock, Deno.env.get("FAKE_CH_REQUEST_LOG"));
  const stop = async () => {
    await fake.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  await fake.exitRequested;
  await stop();
}
