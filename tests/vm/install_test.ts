/**
 * VM group, an install that runs as shipped (issue 15): `deno task install`
 * and `scripts/build-guest --install`, then `ctr run` with runtime
 * `io.containerd.kata.v2` and the installed default configuration, and with
 * the installed QEMU configuration, each print a guest boot id. The
 * scenario (tests/vm/install_scenario.ts) runs in a private mount namespace
 * with overlays on the directories an install writes, so nothing reaches
 * the machine. Needs a bundled build in dist/ (`scripts/test-vm` makes one).
 *
 * Needs /dev/kvm: scripts/test-vm runs it inside scripts/testhost.
 */
import { assert, assertMatch } from "../assert.ts";
import { vmTest } from "./deadline.ts";
import { needs } from "../tier.ts";

const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

vmTest({
  name:
    "as installed: deno task install + build-guest --install; ctr run with the installed default and QEMU configurations print guest boot ids",
  ignore: needs({ paths: ["/dev/kvm"] }).ignore,
  deadlineMs: 600_000,
}, async (ctx) => {
  ctx.step("a bundled build in dist/");
  await Deno.stat(`${ROOT}/dist/containerd-shim-kata-v2`).catch(() => {
    throw new Error(`${ROOT}/dist/containerd-shim-kata-v2 is missing: run 'deno task build'`);
  });
  ctx.step("the install scenario in a private mount namespace (two VM boots)");
  const child = new Deno.Command("unshare", {
    args: [
      "--mount",
      "--propagation",
      "private",
      "--",
      `${ROOT}/scripts/deno`,
      "run",
      "-A",
      "--unstable-vsock",
      `${ROOT}/tests/vm/install_scenario.ts`,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const dec = new TextDecoder();
  const collect = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) output += dec.decode(chunk, { stream: true });
  };
  const reading = Promise.all([collect(child.stdout), collect(child.stderr)]);
  ctx.evidence("the install scenario's output", () => output);
  // Past the deadline the scenario is killed without its clean-up: its overlays vanish with
  // its mount namespace, and what it started ends with this file's own test host.
  ctx.onDeadline(() => child.kill("SIGKILL"));
  const status = await child.status;
  await reading;
  assert(status.success, `the install scenario failed (exit ${status.code}):\n${output}`);
  assertMatch(output, /boot id \(default\): [0-9a-f-]{36}/);
  assertMatch(output, /boot id \(qemu\): [0-9a-f-]{36}/);
});
