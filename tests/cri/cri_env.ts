/**
 * Pieces of a private containerd with the CRI plugin on (used by
 * tests/containerd/harness.ts when started with `cri`): the CRI plugin's
 * config.toml table (sandbox image, CNI directories, runtime handler `kata`
 * with runtime_type io.containerd.kata.v2 and a chosen configuration file),
 * a bridge + host-local CNI configuration in a private directory, and the
 * pause image built locally from the busybox image (no network needed).
 * @module
 */
import { containerdNeeds, type ContainerdVersion } from "../containerd/versions.ts";
import type { Needs } from "../tier.ts";

const REPO = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const CACHE = `${REPO}/.cache`;

/** The sandbox (pause) image reference the CRI plugin is configured with. */
export const PAUSE_IMAGE = "example.local/pause:latest";
/** The namespace the CRI plugin keeps its containers and images in. */
export const CRI_NAMESPACE = "k8s.io";
/** Where Debian's containernetworking-plugins package puts the CNI plugins. */
export const CNI_BIN_DIR = "/usr/lib/cni";

/**
 * What a CRI test on containerd `version` needs (tests/tier.ts): containerd's
 * own needs, the CNI plugins of the pod network and Go with Debian's gRPC
 * sources (tests/cri/go/cri_client.go is built from them).
 */
export function criNeeds(version: ContainerdVersion): Needs {
  const needs = containerdNeeds(version);
  return {
    ...needs,
    peers: [...needs.peers ?? [], "go"],
    paths: [
      ...needs.paths ?? [],
      `${CNI_BIN_DIR}/bridge`,
      `${CNI_BIN_DIR}/host-local`,
      "/usr/share/gocode/src/google.golang.org/grpc",
      "/usr/share/gocode/src/google.golang.org/protobuf/types/dynamicpb",
    ],
  };
}

/** The CNI network of one private containerd. */
export interface CniNetwork {
  /** The bridge device on the host (the pods' gateway). */
  bridge: string;
  /** The pod subnet, e.g. `10.213.7.0/24`. */
  subnet: string;
  /** The gateway address on the bridge. */
  gateway: string;
  /** Directory of the CNI configuration files. */
  confDir: string;
  /** host-local's private allocation directory. */
  dataDir: string;
}

/**
 * Writes a bridge + host-local CNI configuration (with a default route, which
 * the guest must apply after the link route to its gateway) under `dir`. The
 * bridge name and subnet carry a random byte so containerds of parallel test
 * files do not share them.
 */
export async function writeCniConfig(dir: string): Promise<CniNetwork> {
  const n = 1 + Math.floor(Math.random() * 250);
  const net: CniNetwork = {
    bridge: `rtscri${n}`,
    subnet: `10.213.${n}.0/24`,
    gateway: `10.213.${n}.1`,
    confDir: `${dir}/cni/net.d`,
    dataDir: `${dir}/cni/data`,
  };
  await Deno.mkdir(net.confDir, { recursive: true });
  await Deno.mkdir(net.dataDir, { recursive: true });
  const conf = {
    cniVersion: "0.4.0",
    name: `rts-cri-${n}`,
    plugins: [{
      type: "bridge",
      bridge: net.bridge,
      isGateway: true,
      ipMasq: false,
      ipam: {
        type: "host-local",
        dataDir: net.dataDir,
        ranges: [[{ subnet: net.subnet, gateway: net.gateway }]],
        routes: [{ dst: "0.0.0.0/0" }],
      },
    }],
  };
  await Deno.writeTextFile(`${net.confDir}/10-rts-cri.conflist`, JSON.stringify(conf, null, 2));
  return net;
}

/** Options of the CRI plugin of a private containerd. */
export interface CriOptions {
  /**
   * The runtime-ts configuration file handler `kata` runs with, as its
   * runtime options' `ConfigPath`. Unset: no options (the shim then finds its
   * configuration through `KATA_CONF_FILE` or the default paths), which is
   * what containerd 2.1's `shim` sandboxer needs: it cannot start a container
   * whose runtime options are not runc's (containerd PR 13360 fixes it).
   */
  configPath?: string;
  /** The runtime handler name (default `kata`). */
  handler?: string;
  /**
   * containerd 2.x only: who makes the pod's sandbox. `podsandbox` (the
   * default): containerd runs a pause container through the shim's Task
   * service; `shim`: containerd hands the pod to the shim's Sandbox service.
   */
  sandboxer?: "podsandbox" | "shim";
}

/** The environment our shim needs under `opts` (its configuration without runtime options). */
export function criShimEnv(opts: CriOptions): Record<string, string> {
  return opts.sandboxer === "shim" && opts.configPath ? { KATA_CONF_FILE: opts.configPath } : {};
}

/**
 * The CRI plugin's config.toml tables: containerd 1.6 and 1.7 (config
 * version 2, one `io.containerd.grpc.v1.cri` plugin) or 2.x (config version 3,
 * the plugin split into images, runtime and the gRPC server).
 */
export function criConfigLines(
  opts: CriOptions,
  net: CniNetwork,
  version: "1.6" | "1.7" | "2.1" = "1.6",
): string[] {
  const handler = opts.handler ?? "kata";
  const v2 = version.startsWith("2.");
  if (opts.sandboxer && !v2) {
    throw new Error(`CRI: sandboxer "${opts.sandboxer}" needs containerd 2.x, not ${version}`);
  }
  const grpc = `[plugins."io.containerd.grpc.v1.cri"]`;
  const rt = v2
    ? `[plugins."io.containerd.cri.v1.runtime"`
    : `[plugins."io.containerd.grpc.v1.cri"`;
  const runtimeTable = (name: string) => `${rt}.containerd.runtimes.${name}]`;
  // Shared by both layouts: the runtime's security settings.
  const security = [
    `  enable_selinux = false`,
    `  disable_apparmor = true`,
    // The CRI plugin gives sandboxes oom_score_adj -998, which needs
    // CAP_SYS_RESOURCE: test hosts that are containers lack it, so scores are
    // kept at or above containerd's own (the documented setting for that case).
    `  restrict_oom_score_adj = true`,
  ];
  const images = v2
    ? [
      `[plugins."io.containerd.cri.v1.images"]`,
      `  snapshotter = "overlayfs"`,
      `[plugins."io.containerd.cri.v1.images".pinned_images]`,
      `  sandbox = "${PAUSE_IMAGE}"`,
    ]
    : [];
  return [
    ...images,
    grpc,
    ...(v2 ? [] : [`  sandbox_image = "${PAUSE_IMAGE}"`]),
    // Port 0: containerds of parallel test files must not fight over 10010.
    `  stream_server_address = "127.0.0.1"`,
    `  stream_server_port = "0"`,
    ...(v2 ? [`${rt}]`] : []),
    ...security,
    `${rt}.containerd]`,
    ...(v2 ? [] : [`  snapshotter = "overlayfs"`]),
    `  default_runtime_name = "runc"`,
    runtimeTable("runc"),
    `  runtime_type = "io.containerd.runc.v2"`,
    runtimeTable(handler),
    `  runtime_type = "io.containerd.kata.v2"`,
    ...(v2 ? [`  sandboxer = "${opts.sandboxer ?? "podsandbox"}"`] : []),
    `  privileged_without_host_devices = true`,
    `  pod_annotations = ["io.katacontainers.*"]`,
    // containerd 2.1's client cannot start a task in a shim sandbox when the
    // runtime has options of another type than runc's ("failed to get runtime
    // v2 options", containerd PR 12986, fixed by 12786): the shim then finds
    // its configuration through KATA_CONF_FILE ({@link criShimEnv}).
    ...(opts.sandboxer === "shim" || !opts.configPath
      ? []
      : [`${rt}.containerd.runtimes.${handler}.options]`, `  ConfigPath = "${opts.configPath}"`]),
    `${rt}.cni]`,
    v2 ? `  bin_dirs = ["${CNI_BIN_DIR}"]` : `  bin_dir = "${CNI_BIN_DIR}"`,
    `  conf_dir = "${net.confDir}"`,
    `  max_conf_num = 1`,
  ];
}

async function must(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (out.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

/**
 * Builds (once) the pause image's OCI tar from the busybox image tar: the
 * same root filesystem with `sleep` as its command (containerd's CRI plugin
 * stops sandboxes with SIGKILL, so no signal handling is needed).
 */
export async function pauseImageTar(busyboxTar: string): Promise<string> {
  const tar = `${CACHE}/pause-oci.tar`;
  if (await Deno.stat(tar).then(() => true, () => false)) return tar;
  const work = await Deno.makeTempDir({ dir: CACHE, prefix: "pause-" });
  try {
    const layout = `${work}/layout`;
    await Deno.mkdir(layout);
    await must("tar", ["-C", layout, "-xf", busyboxTar]);
    await must("umoci", [
      "config",
      "--image",
      `${layout}:latest`,
      "--config.entrypoint",
      "/bin/sleep",
      "--config.cmd",
      "2147483647",
    ]);
    // Only the new manifest stays tagged `latest`; the tar a private name until complete.
    const tmp = `${work}/pause-oci.tar`;
    await must("tar", ["-C", layout, "-cf", tmp, "."]);
    await Deno.rename(tmp, tar);
    return tar;
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}
