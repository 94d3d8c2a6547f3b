/**
 * The CRI behaviours of tests/cri/cri_behaviours.ts (exec -it with 64-character
 * ids, attach, port forwarding, stats, log reopen, verbose status, resource
 * update, OOM) through one containerd (1.6, and 2.1 with sandboxer
 * `podsandbox`) for handler `runc` (containerd's own runc shim, the reference)
 * and handler `kata` (our shim, LinuxContainer runtime): runc must observe what
 * a kubelet expects, and ours the same. Ignored, saying why, where a peer is
 * missing.
 */
import { Containerd, LINUX_CONTAINER_CONFIG } from "../containerd/harness.ts";
import { type ContainerdVersion, isContainerd2 } from "../containerd/versions.ts";
import { testsNeeding } from "../tier.ts";
import { assert, assertThrows } from "../assert.ts";
import {
  assertSameAsRunc,
  type Behaviour,
  BEHAVIOURS,
  runBehaviours,
  RUNC_OBSERVES,
} from "./cri_behaviours.ts";
import { criNeeds } from "./cri_env.ts";

function behaviourTest(version: ContainerdVersion): void {
  const test = testsNeeding(criNeeds(version));
  const mode = isContainerd2(version) ? ", sandboxer podsandbox" : "";
  test({
    name:
      `CRI behaviours on containerd ${version}${mode}: runc shim and ours (LinuxContainer) alike`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const ctrd = await Containerd.start({
        version,
        cri: {
          configPath: LINUX_CONTAINER_CONFIG,
          sandboxer: isContainerd2(version) ? "podsandbox" : undefined,
        },
      });
      try {
        const runc = await runBehaviours(ctrd, { handler: "runc" });
        const ours = await runBehaviours(ctrd, { handler: "kata" });
        for (const [h, m] of [["runc", runc], ["kata", ours]] as const) {
          for (const [k, v] of m) console.log(`${h} ${k}: ${JSON.stringify(v.seen)}`);
        }
        assertSameAsRunc(runc, ours);
      } catch (err) {
        console.error(`containerd log: ${ctrd.dir}/containerd.log`);
        console.error(
          (await ctrd.log()).split("\n").filter((l) => /level=(error|warn)/.test(l)).slice(-30)
            .join("\n"),
        );
        throw err;
      } finally {
        await ctrd.stop();
      }
    },
  });
}

behaviourTest("1.6");
behaviourTest("2.1");

Deno.test("assertSameAsRunc lists every check where ours or runc differs, with its evidence", () => {
  const obs = (over: Partial<Record<Behaviour, Record<string, unknown>>> = {}) =>
    new Map(BEHAVIOURS.map((b) => [b, { seen: over[b] ?? RUNC_OBSERVES[b], detail: `d-${b}` }]));
  assertSameAsRunc(obs(), obs());
  const oomless = { oom: { state: "CONTAINER_EXITED", reason: "Error", exitCode: 137 } };
  const err = assertThrows(() => assertSameAsRunc(obs(), obs(oomless)));
  assert(err.message.includes("oom, ours:") && err.message.includes("d-oom"), err.message);
  assert(!err.message.includes("runc:"), err.message);
  assertThrows(() => assertSameAsRunc(obs(oomless), obs(oomless)));
  // A documented difference is what ours must observe instead.
  assertSameAsRunc(obs(), obs(oomless), oomless);
  assertThrows(() => assertSameAsRunc(obs(), obs(), oomless));
});
