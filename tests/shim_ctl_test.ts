/**
 * `shim-ctl run --bundle`: an OCI bundle through the runtime code without
 * containerd; stdio attached, exit code propagated, nothing left behind.
 */
import { assert, assertEquals } from "./assert.ts";
import { busyboxBundle } from "./busybox_bundle.ts";
import { runShim } from "./command.ts";

function ctlRun(bundle: string, id: string, stdin: string) {
  return runShim(["shim-ctl", "run", "--bundle", bundle, "--id", id], { stdin });
}

Deno.test("shim-ctl run: stdio attached and the exit code propagated", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rts-ctl-" });
  try {
    const bundle = await busyboxBundle(dir, ["sh", "-c", "cat; echo to-err >&2; exit 9"]);
    const id = `ctl-${dir.slice(-6)}`;
    const r = await ctlRun(bundle, id, "fed through stdin\n");
    assertEquals(r.code, 9, r.stderr);
    assertEquals(r.stdout, "fed through stdin\n");
    assertEquals(r.stderr, "to-err\n");
    const left = await Deno.stat(`/run/kata/${id}`).then(() => true, () => false);
    assert(!left, `/run/kata/${id} left behind`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("shim-ctl run: a terminal process gets a pty", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rts-ctl-" });
  try {
    const bundle = await busyboxBundle(dir, ["sh", "-c", "tty; exit 4"], { terminal: true });
    const r = await ctlRun(bundle, `ctl-${dir.slice(-6)}`, "");
    assertEquals(r.code, 4, r.stderr);
    assert(r.stdout.startsWith("/dev/pts/"), JSON.stringify(r.stdout));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
