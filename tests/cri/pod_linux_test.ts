/**
 * Kubernetes pods through containerd's CRI plugin with the LinuxContainer
 * runtime (no VM): runtime handler `kata` runs our shim with
 * configuration-linux-container.toml; the pod scenario of issue 12 with PID
 * namespace option CONTAINER, then POD, on containerd 1.6, 1.7 and 2.1, and on
 * 2.1 with both sandboxers (`podsandbox`: a pause container through the Task
 * service; `shim`: the pod through the shim's Sandbox service, no pause
 * container). Ignored, saying why, where a peer is missing.
 */
import { Containerd, LINUX_CONTAINER_CONFIG } from "../containerd/harness.ts";
import {
  CONTAINERD_VERSIONS,
  type ContainerdVersion,
  isContainerd2,
} from "../containerd/versions.ts";
import { testsNeeding } from "../tier.ts";
import { criNeeds, type CriOptions } from "./cri_env.ts";
import { runPodScenario } from "./pod_checks.ts";

function podTests(version: ContainerdVersion, sandboxer?: CriOptions["sandboxer"]): void {
  const test = testsNeeding(criNeeds(version));
  const mode = sandboxer ? `, sandboxer ${sandboxer}` : "";
  for (const pidMode of ["CONTAINER", "POD"] as const) {
    test({
      name:
        `CRI pod on containerd ${version}${mode}, LinuxContainer runtime: PID namespace ${pidMode}`,
      sanitizeResources: false,
      sanitizeOps: false,
      async fn() {
        const ctrd = await Containerd.start({
          version,
          cri: { configPath: LINUX_CONTAINER_CONFIG, sandboxer },
        });
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
}

for (const version of CONTAINERD_VERSIONS) {
  if (isContainerd2(version)) {
    podTests(version, "podsandbox");
    podTests(version, "shim");
  } else {
    podTests(version);
  }
}
