/**
 * Kubernetes pods through containerd's CRI plugin with the LinuxContainer
 * runtime (no VM): runtime handler `kata` runs our shim with
 * configuration-linux-container.toml; the pod scenario of issue 12 with PID
 * namespace option CONTAINER, then POD. Ignored (saying why) where a peer is missing.
 */
import { Containerd, LINUX_CONTAINER_CONFIG } from "../containerd/harness.ts";
import { testsNeeding } from "../tier.ts";
import { runPodScenario } from "./pod_checks.ts";

const test = testsNeeding({
  root: true,
  peers: ["containerd", "runc", "go", "umoci"],
  paths: [
    "/usr/lib/cni/bridge",
    // Debian's golang-google-grpc-dev and golang-google-protobuf-dev, for the CRI client.
    "/usr/share/gocode/src/google.golang.org/grpc",
    "/usr/share/gocode/src/google.golang.org/protobuf/types/dynamicpb",
  ],
});

for (const pidMode of ["CONTAINER", "POD"] as const) {
  test({
    name: `CRI pod on the LinuxContainer runtime: checks 1-6 with PID namespace ${pidMode}`,
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
