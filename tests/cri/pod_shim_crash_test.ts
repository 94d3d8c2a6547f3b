/**
 * A lost shim under containerd 2.1's `sandboxer = "shim"`, LinuxContainer
 * runtime: a running pod (its namespace holder as PID 1 of the pod's PID
 * namespace, one container) loses its shim to SIGKILL; containerd learns it
 * (the pod goes NOTREADY), and its clean-up (`shim delete`, then kubelet's
 * StopPodSandbox and RemovePodSandbox) leaves no process, mount, netns,
 * cgroup or state. Ignored, saying why, where a peer is missing.
 */
import { assert, assertEquals } from "../assert.ts";
import { Containerd, IMAGE, LINUX_CONTAINER_CONFIG, shimProcesses } from "../containerd/harness.ts";
import { testsNeeding } from "../tier.ts";
import { isSameProcess, type ProcessIdentity } from "../../persist/process_identity.ts";
import { criNeeds } from "./cri_env.ts";
import { CriClient } from "./cri_client.ts";
import { assertPodLeftNothing, cniNetns, removeCgroupParent, waitFor } from "./pod_checks.ts";

const test = testsNeeding(criNeeds("2.1"));

/** The process of `pid` as it is now (pid, start time, executable). */
function identity(pid: number): ProcessIdentity {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const start = stat.slice(stat.lastIndexOf(")") + 1).trim().split(/\s+/)[19];
  return { pid, start_time: start, exe: Deno.readLinkSync(`/proc/${pid}/exe`) };
}

test({
  name: "CRI pod on containerd 2.1, sandboxer shim, LinuxContainer runtime: SIGKILLed shim",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const ctrd = await Containerd.start({
      version: "2.1",
      cri: { configPath: LINUX_CONTAINER_CONFIG, sandboxer: "shim" },
    });
    const cri = new CriClient(ctrd.address, 60);
    const suffix = crypto.randomUUID().slice(0, 8);
    const cgroupParent = `rts-crash-${suffix}`;
    const netnsBefore = await cniNetns();
    const podConfig = {
      metadata: { name: `crash-${suffix}`, uid: `uid-${suffix}`, namespace: "default" },
      hostname: "crashpod",
      log_directory: `${ctrd.dir}/logs-${suffix}`,
      linux: {
        cgroup_parent: `/${cgroupParent}/pod${suffix}`,
        security_context: { namespace_options: { network: "POD", pid: "POD", ipc: "POD" } },
      },
    };
    let podId = "";
    try {
      await waitFor("the busybox image in the CRI image store", 30, async () => {
        const r = await cri.image("ImageStatus", { image: { image: IMAGE } });
        return r.image ? true : undefined;
      });
      podId = (await cri.runtime("RunPodSandbox", { config: podConfig, runtime_handler: "kata" }))
        .pod_sandbox_id;
      const c: string = (await cri.runtime("CreateContainer", {
        pod_sandbox_id: podId,
        config: {
          metadata: { name: "sleeper" },
          image: { image: IMAGE },
          command: ["/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"],
          log_path: "sleeper.log",
          linux: {
            security_context: { namespace_options: { network: "POD", pid: "POD", ipc: "POD" } },
          },
        },
        sandbox_config: podConfig,
      })).container_id;
      await cri.runtime("StartContainer", { container_id: c });

      // What must be gone afterwards: the holder the pod's record names, the container's init.
      const state = JSON.parse(await Deno.readTextFile(`/run/kata/${podId}/state.json`));
      const holder: ProcessIdentity = state.resources.pod.holder;
      assert(isSameProcess(holder), `the namespace holder runs: ${JSON.stringify(holder)}`);
      const tasks = (await ctrd.ctrMust("-n", "k8s.io", "task", "ls")).split("\n");
      const initPid = Number(tasks.find((l) => l.startsWith(c))?.split(/\s+/)[1]);
      assert(initPid > 0, `the container's pid from ctr task ls: ${tasks.join("; ")}`);
      const init = identity(initPid);
      const shims = await shimProcesses(podId);
      assertEquals(shims.length, 1, "one shim for the pod");

      Deno.kill(Number(shims[0]), "SIGKILL");
      await waitFor("the pod NOTREADY after its shim died", 30, async () => {
        const st = (await cri.runtime("PodSandboxStatus", { pod_sandbox_id: podId })).status;
        return st.state === "SANDBOX_NOTREADY" ? true : undefined;
      });
      // containerd reports the container's exit (its first clean-up try fails on
      // the closed connection; CRI retries within seconds).
      await waitFor("the container EXITED after its shim died", 30, async () => {
        const st = (await cri.runtime("ContainerStatus", { container_id: c })).status;
        return st.state === "CONTAINER_EXITED" ? true : undefined;
      });
      // kubelet's clean-up of a pod whose sandbox died.
      await cri.runtime("StopPodSandbox", { pod_sandbox_id: podId });
      await cri.runtime("RemovePodSandbox", { pod_sandbox_id: podId });
      const removed = podId;
      podId = "";
      await waitFor(
        "the holder and the container's processes gone",
        20,
        () => Promise.resolve(!isSameProcess(holder) && !isSameProcess(init) ? true : undefined),
      );
      await assertPodLeftNothing(removed, [c], netnsBefore);
      await removeCgroupParent(cgroupParent);
    } catch (err) {
      console.error(
        (await ctrd.log()).split("\n").filter((l) => /level=(error|warn)/.test(l))
          .slice(-40).join("\n"),
      );
      throw err;
    } finally {
      if (podId) {
        await cri.runtime("StopPodSandbox", { pod_sandbox_id: podId }).catch(() => {});
        await cri.runtime("RemovePodSandbox", { pod_sandbox_id: podId }).catch(() => {});
      }
      await removeCgroupParent(cgroupParent).catch(() => {});
      await ctrd.stop();
    }
  },
});
