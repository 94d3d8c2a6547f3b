/**
 * Builds and runs the Go ttRPC peer (tests/interop/go/ttrpc_peer.go) with
 * Debian's Go toolchain and Go libraries (golang-github-containerd-ttrpc-dev,
 * golang-github-containerd-containerd-dev), offline, in GOPATH mode. The
 * binary is cached under .cache/interop/ by source hash, so CI builds once.
 * @module
 */
const root = new URL("../../", import.meta.url).pathname;
const source = `${root}tests/interop/go/ttrpc_peer.go`;
const GOPATH_DEBIAN = "/usr/share/gocode";

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Returns the path of the built peer, building it on first use.
 * @throws {Error} when Go or the Debian Go packages are missing, with the compiler output
 */
export async function goPeerBinary(): Promise<string> {
  const cacheDir = `${root}.cache/interop`;
  const bin = `${cacheDir}/ttrpc_peer-${(await sha256(source)).slice(0, 16)}`;
  try {
    await Deno.stat(bin);
    return bin;
  } catch {
    // Not built yet.
  }
  await Deno.mkdir(cacheDir, { recursive: true });
  const tmp = `${bin}.${Deno.pid}.tmp`;
  const gopath = await Deno.makeTempDir({ prefix: "gopath-" });
  try {
    const { code, stderr } = await new Deno.Command("go", {
      args: ["build", "-o", tmp, source],
      env: {
        GO111MODULE: "off",
        GOPATH: `${GOPATH_DEBIAN}:${gopath}`,
        GOPROXY: "off",
        GOFLAGS: "",
        GOCACHE: `${root}.cache/go-build`,
      },
      stdout: "null",
      stderr: "piped",
    }).output().catch((err) => {
      throw new Error(
        `Cannot build the Go ttrpc peer: go is not installed (scripts/install-deps installs golang-go): ${err}`,
      );
    });
    if (code !== 0) {
      throw new Error(`Cannot build the Go ttrpc peer: ${new TextDecoder().decode(stderr)}`);
    }
    await Deno.rename(tmp, bin); // atomic, so concurrent builders never see half a binary
    return bin;
  } finally {
    await Deno.remove(gopath, { recursive: true });
    await Deno.remove(tmp).catch(() => {});
  }
}

/** A Go ttrpc server running the test Task service. */
export interface GoServer {
  path: string;
  /** Process id of the server (the benchmark reads its CPU time). */
  pid: number;
  stop(): Promise<void>;
}

/** Starts `ttrpc_peer server` on a fresh socket and waits until it listens. */
export async function startGoServer(): Promise<GoServer> {
  const bin = await goPeerBinary();
  const dir = await Deno.makeTempDir({ prefix: "go-ttrpc-" });
  const path = `${dir}/go.sock`;
  const child = new Deno.Command(bin, {
    args: ["server", path],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  let seen = "";
  while (!seen.includes("READY")) {
    const { value, done } = await reader.read();
    if (done) {
      await child.status;
      await Deno.remove(dir, { recursive: true });
      throw new Error(`Go ttrpc server exited before listening: ${seen}`);
    }
    seen += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return {
    path,
    pid: child.pid,
    async stop() {
      child.kill("SIGTERM");
      await child.stdout.cancel();
      await child.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Runs the peer as a client (`check` or `bench`) and returns its parsed JSON output. */
export async function runGoClient(args: string[]): Promise<Record<string, unknown>> {
  const bin = await goPeerBinary();
  const { code, stdout, stderr } = await new Deno.Command(bin, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(stderr);
  if (code !== 0) throw new Error(`ttrpc_peer ${args.join(" ")} failed (exit ${code}): ${err}`);
  return JSON.parse(new TextDecoder().decode(stdout));
}
