/**
 * VM group: the CRI behaviours of tests/cri/cri_behaviours.ts (exec -it with
 * 64-character ids, attach, port forwarding, stats, log reopen, verbose
 * status, resource update, OOM) on the built-in VMM and on QEMU, held to what
 * containerd's runc shim shows on a host (tests/cri/cri_behaviours_test.ts
 * asserts that); runc's shim (handler `runc`) runs the same checks on the same
 * containerd here too, its differences printed as evidence. The one
 * documented difference: port forwarding into a VM pod fails, with the port
 * named in the streaming error channel, since containerd's CRI dials the port
 * inside the pod's network namespace on the host, where nothing listens (the
 * listener is in the guest; upstream Kata does not support it either; README,
 * "Using it from Kubernetes"). The LinuxContainer run of the same checks is
 * tests/cri/cri_behaviours_test.ts.
 *
 * Needs /dev/kvm: scripts/test-vm runs it inside scripts/testhost where this
 * machine has none. Build the CRI client first outside the test host
 * (`scripts/deno run -A tests/cri/cri_client.ts`); it is cached under .cache/cri.
 */
import { differences, runBehaviours, VM_PORT_FORWARD } from "../cri/cri_behaviours.ts";
import { assertEquals } from "../assert.ts";
import { withCriContainerd } from "./cri_containerd.ts";
import { vmTest } from "./deadline.ts";
import { needs } from "../tier.ts";

const noKvm = needs({ paths: ["/dev/kvm"] }).ignore;

/**
 * Registers the comparison on `hypervisor`. Each call passes its own literal
 * `deadlineMs`: scripts/test-vm sizes the file's test host from those literals.
 */
function behavioursTest(
  opts: { hypervisor: "dragonball" | "qemu"; lines: string[]; deadlineMs: number },
): void {
  const { hypervisor, lines } = opts;
  vmTest({
    name:
      `CRI behaviours on ${hypervisor}: as containerd's runc shim, port forwarding refused clearly`,
    ignore: noKvm,
    deadlineMs: opts.deadlineMs,
    // One run (2026-12-08, its automatic rerun): ours observed runc's results on
    // both VMMs but port forwarding (refused, as documented) and the pods left
    // nothing; it failed only on runc's own run in the test host, which is
    // evidence since. Not yet run green as it stands.
    unverified: "issue 25: ours matched; failed on the test host's runc, now evidence only",
  }, (ctx) =>
    withCriContainerd(ctx, hypervisor, lines, async (c) => {
      const progress = (s: string) => ctx.step(s);
      const runc = await runBehaviours(c, { handler: "runc", callTimeout: 120, progress });
      const ours = await runBehaviours(c, {
        handler: "kata",
        // A nested guest under software emulation: each CRI call gets minutes.
        callTimeout: 240,
        runSandboxTimeout: 480,
        progress,
      });
      for (const [h, m] of [["runc", runc], ["kata", ours]] as const) {
        for (const [k, v] of m) console.log(`${h} ${k}: ${JSON.stringify(v.seen)}`);
      }
      // runc in the nested test host cannot open /dev/ptmx for an exec and its
      // containers read no memory limit from their cgroup (seen 2026-12-08);
      // the LinuxContainer test holds runc to its results on a real host, so
      // here its run is evidence, ours the subject.
      const runcOff = differences("runc", runc);
      if (runcOff.length) {
        console.warn(`runc's shim here, not held against ours:\n${runcOff.join("\n")}`);
      }
      const wrong = differences("ours", ours, { portForward: VM_PORT_FORWARD });
      assertEquals(
        wrong,
        [],
        `CRI behaviours of ours that differ from runc's:\n${wrong.join("\n")}`,
      );
    }));
}

behavioursTest({ hypervisor: "dragonball", lines: ['kernel_params = ""'], deadlineMs: 900_000 });
behavioursTest({ hypervisor: "qemu", lines: [], deadlineMs: 900_000 });
