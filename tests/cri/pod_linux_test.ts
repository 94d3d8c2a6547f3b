/**
 * Kubernetes pods through containerd's CRI plugin with the LinuxContainer
 * runtime (no VM): runtime handler `kata` runs our shim with
 * configuration-linux-container.toml; the pod scenario of issue 12 with PID
 * namespace option CONTAINER, then POD. Skips where a peer is missing.
 */
import { Containerd, LINUX_CONTAINER_CONFIG, run } from "../containerd/harness.ts";
import { runPodScenario } from "./pod_checks.ts";

async function missingPeer(): Promise<string | undefined> {
  for (
    const [cmd, args] of [["containerd", ["--version"]], ["runc", ["--version"]], ["go", [
      "version",
    ]], [
      "umoci",
      ["--version"],
    ]] as const
  ) {
    const r = await run(cmd, [...args]).catch(() => undefined);
    if (!r || r.code !== 0) return cmd;
  }
  if (!await Deno.stat("/usr/lib/cni/bridge").then(() => true, () => false)) {
    return "CNI plugins (/usr/lib/cni)";
  }
  for (const pkg of ["google.golang.org/grpc", "google.golang.org/protobuf/types/dynamicpb"]) {
    if (!await Deno.stat(`/usr/share/gocode/src/${pkg}`).then(() => true, () => false)) {
      return `Go package ${pkg} (golang-google-grpc-dev, golang-google-protobuf-dev)`;
    }
  }
  if (Deno.uid() !== 0) return "root";
  return undefined;
}

const missing = await missingPeer();

for (const pidMode of ["CONTAINER", "POD"] as const) {
  Deno.test({
    name: `CRI pod on the LinuxContainer runtime: checks 1-6 with PID namespace ${pidMode}`,
    ignore: missing !== undefined,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const ctrd = await Containerd.start({ cri: { configPath: LINUX_CONTAINER_CONFIG } });
      try {
        await runPodScenario(ctrd, { handler: "kata", pidMode, vm: false });
      } catch (err) {
        console.error(`containerd log: ${ctrd.dir}/containerd.log`);
        console.error(
          (await ctrd.log()).split("\n").filter((l) => /level=(error|warn)/.test(l))
            .slice(-30).join("\n"),
        );
        throw err;
      } finally {
        await ctrd.stop();
      }
    },
  });
}
if (missing) console.warn(`Skipping the CRI pod tests: ${missing} is missing`);
