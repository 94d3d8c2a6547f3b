/**
 * VM group: Kubernetes pods through containerd's CRI plugin on VMs (issue 12).
 * A private containerd with the CRI plugin on (tests/cri/cri_env.ts) runs
 * the pod scenario of tests/cri/pod_checks.ts with runtime handler `kata`
 * pointing at our shim and the shipped configuration of the built-in VMM or
 * QEMU (with a drop-in for the guest from scripts/build-guest): one VM per
 * pod, the sandbox and both app containers in it, the pod's PID namespace
 * shared (option POD, so sandbox_pidns is exercised), the CNI pod IP carried
 * by the guest NIC and answering a TCP connection from the host, CRI logs,
 * stop/remove and the leak check. The linux-container run of the same
 * scenario (PID options CONTAINER and POD) is tests/cri/pod_linux_test.ts.
 *
 * Needs /dev/kvm: scripts/test-vm runs it inside scripts/testhost where this
 * machine has none. Build the CRI client first outside the test host
 * (`scripts/deno run -A tests/cri/cri_client.ts`); it is cached under .cache/cri.
 */
import { Containerd } from "../containerd/harness.ts";
import { criClientFiles } from "../cri/cri_client.ts";
import { runPodScenario } from "../cri/pod_checks.ts";
import { configWithBuiltGuest, printContainerdLog, SLOW_VM_CONTAINERD } from "./guest_config.ts";
import { vmTest } from "./deadline.ts";
import { needs } from "../tier.ts";

const noKvm = needs({ paths: ["/dev/kvm"] }).ignore;

/**
 * Registers the pod scenario on `hypervisor`. Each call passes its own literal
 * `deadlineMs`: scripts/test-vm sizes the file's test host from those literals.
 */
function podTest(
  opts: { hypervisor: "dragonball" | "qemu"; lines: string[]; deadlineMs: number },
): void {
  const { hypervisor, lines } = opts;
  vmTest({
    name: `CRI pod on ${hypervisor}: one VM for the pod, shared namespaces, pod IP, logs, no leaks`,
    ignore: noKvm,
    deadlineMs: opts.deadlineMs,
  }, async (ctx) => {
    ctx.step("the CRI client (prebuilt under .cache/cri)");
    await criClientFiles();
    const cfgDir = await Deno.makeTempDir({ prefix: `rts-pod-${hypervisor}-` });
    try {
      const config = await configWithBuiltGuest(hypervisor, cfgDir, [...lines]);
      ctx.step("containerd with the CRI plugin to start");
      const c = await Containerd.start({ ...SLOW_VM_CONTAINERD, cri: { configPath: config } });
      ctx.evidence("containerd log (with the shim's and the guest console's lines)", () => c.log());
      try {
        await runPodScenario(c, {
          handler: "kata",
          pidMode: "POD",
          vm: true,
          // A nested guest under software emulation: each CRI call gets minutes.
          callTimeout: 240,
          runSandboxTimeout: 480,
          progress: (s) => ctx.step(s),
        });
      } catch (err) {
        await printContainerdLog(c);
        throw err;
      } finally {
        ctx.step("containerd's clean-up");
        await c.stop();
      }
    } finally {
      await Deno.remove(cfgDir, { recursive: true });
    }
  });
}

podTest({ hypervisor: "dragonball", lines: ['kernel_params = ""'], deadlineMs: 830_000 });
podTest({ hypervisor: "qemu", lines: [], deadlineMs: 830_000 });
