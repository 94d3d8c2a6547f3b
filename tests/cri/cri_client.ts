/**
 * A CRI client for the tests (crictl is not packaged for Debian 12): builds
 * tests/cri/go/cri_client.go with Debian's Go and grpc packages, offline, in
 * GOPATH mode (as tests/interop/go_peer.ts does), and the descriptor set of
 * the proto subset tests/cri/proto with buf; both are cached under `.cache/cri/`
 * by source hash. Each call runs the Go program once: request and response are
 * protobuf JSON with upstream's field names (`pod_sandbox_id`, ...).
 * @module
 */
const root = new URL("../../", import.meta.url).pathname;
const goSource = `${root}tests/cri/go/cri_client.go`;
const protoDir = `${root}tests/cri/proto`;
const protoFile = `${protoDir}/runtime/v1/api.proto`;
const GOPATH_DEBIAN = "/usr/share/gocode";

async function sha256(paths: string[]): Promise<string> {
  const parts = await Promise.all(paths.map((p) => Deno.readFile(p)));
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  const digest = await crypto.subtle.digest("SHA-256", all);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("")
    .slice(0, 16);
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function build(cmd: string, args: string[], env: Record<string, string>, what: string) {
  const { code, stderr } = await new Deno.Command(cmd, {
    args,
    env,
    stdout: "null",
    stderr: "piped",
  })
    .output().catch((err) => {
      throw new Error(`Cannot build the ${what}: ${cmd} is not installed: ${err}`);
    });
  if (code !== 0) {
    throw new Error(`Cannot build the ${what}: ${new TextDecoder().decode(stderr)}`);
  }
}

/** Paths of the built client binary and descriptor set, building them on first use. */
export async function criClientFiles(): Promise<{ bin: string; descriptors: string }> {
  const dir = `${root}.cache/cri`;
  await Deno.mkdir(dir, { recursive: true });
  const bin = `${dir}/cri_client-${await sha256([goSource])}`;
  const descriptors = `${dir}/cri-${await sha256([protoFile])}.binpb`;
  if (!await exists(bin)) {
    const gopath = await Deno.makeTempDir({ prefix: "gopath-" });
    const tmp = `${bin}.${Deno.pid}.tmp`;
    try {
      await build("go", ["build", "-o", tmp, goSource], {
        GO111MODULE: "off",
        GOPATH: `${GOPATH_DEBIAN}:${gopath}`,
        GOPROXY: "off",
        GOFLAGS: "",
        GOCACHE: `${root}.cache/go-build`,
      }, "CRI client (scripts/install-deps installs golang-go and golang-google-grpc-dev)");
      await Deno.rename(tmp, bin); // atomic: concurrent builders never see half a binary
    } finally {
      await Deno.remove(gopath, { recursive: true });
      await Deno.remove(tmp).catch(() => {});
    }
  }
  if (!await exists(descriptors)) {
    const tmp = `${descriptors}.${Deno.pid}.tmp`;
    await build(`${root}node_modules/.bin/buf`, ["build", protoDir, "-o", `${tmp}#format=binpb`], {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/tmp",
    }, "CRI descriptor set");
    await Deno.rename(tmp, descriptors);
  }
  return { bin, descriptors };
}

/** A failed CRI call: `code` is the gRPC status name (e.g. `NotFound`). */
export class CriError extends Error {
  constructor(readonly method: string, readonly code: string, readonly detail: string) {
    super(`CRI ${method} failed: ${code}: ${detail}`);
    this.name = "CriError";
  }
}

// deno-lint-ignore no-explicit-any
type Json = any;

/** A CRI client bound to one containerd socket. */
export class CriClient {
  constructor(readonly socket: string, readonly timeoutSeconds = 120) {}

  /**
   * Calls `service/method` (e.g. `RuntimeService/RunPodSandbox`) with a JSON
   * request; resolves with the JSON response.
   * @throws {CriError} with the gRPC status when the call fails
   */
  async call(method: string, request: Json, timeoutSeconds = this.timeoutSeconds): Promise<Json> {
    const { bin, descriptors } = await criClientFiles();
    const out = await new Deno.Command(bin, {
      args: [descriptors, this.socket, String(timeoutSeconds), method, JSON.stringify(request)],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    if (out.code !== 0) {
      const err = dec.decode(out.stderr).trim();
      const colon = err.indexOf(": ");
      throw new CriError(method, colon > 0 ? err.slice(0, colon) : "Unknown", err.slice(colon + 2));
    }
    return JSON.parse(dec.decode(out.stdout));
  }

  /** RuntimeService call. */
  runtime(method: string, request: Json, timeoutSeconds?: number): Promise<Json> {
    return this.call(`RuntimeService/${method}`, request, timeoutSeconds);
  }

  /** ImageService call. */
  image(method: string, request: Json): Promise<Json> {
    return this.call(`ImageService/${method}`, request);
  }

  /** ExecSync: stdout/stderr decoded as text, exit code as a number. */
  async execSync(
    containerId: string,
    cmd: string[],
    timeout = 60,
  ): Promise<{ stdout: string; stderr: string; exitCode: number }> {
    const r = await this.runtime(
      "ExecSync",
      { container_id: containerId, cmd, timeout },
      timeout + 30,
    );
    const text = (b64?: string) => b64 ? new TextDecoder().decode(decodeBase64(b64)) : "";
    return { stdout: text(r.stdout), stderr: text(r.stderr), exitCode: r.exit_code ?? 0 };
  }
}

function decodeBase64(b64: string): Uint8Array {
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

if (import.meta.main) {
  // `scripts/deno run -A tests/cri/cri_client.ts`: build (or find) the client, print its paths.
  console.log(await criClientFiles());
}
