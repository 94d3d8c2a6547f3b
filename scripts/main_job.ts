/**
 * Runs containers through the built shim (`dist/containerd-shim-kata-v2`)
 * under a private containerd 1.6, as `ctr run --runtime <shim>
 * --runtime-config-path <config>` would from a user's shell, and prints what
 * they print. Called by `scripts/main-job` after the build.
 * @module
 */
import { Containerd, IMAGE, LINUX_CONTAINER_CONFIG } from "../tests/containerd/harness.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

async function main(): Promise<number> {
  Deno.env.set("RTS_TEST_SHIM", `${ROOT}/dist/containerd-shim-kata-v2`);
  const c = await Containerd.start();
  try {
    console.log(`containerd 1.6 (private, ${c.address}); shim ${c.shim} -> dist build`);
    const cmd = ["sh", "-c", "echo hello from runtime-ts; uname -a; id; exit 7"];
    console.log(
      `$ ctr run --rm --runtime containerd-shim-kata-v2 --runtime-config-path ${LINUX_CONTAINER_CONFIG} ${IMAGE} demo ${
        cmd.join(" ")
      }`,
    );
    const r = await c.ctr(
      "run",
      "--rm",
      "--runtime",
      c.shim,
      "--runtime-config-path",
      LINUX_CONTAINER_CONFIG,
      IMAGE,
      "main-job-demo",
      ...cmd,
    );
    await Deno.stdout.write(new TextEncoder().encode(r.stdout));
    if (r.stderr) console.error(r.stderr.trimEnd());
    console.log(`exit code ${r.code} (the container exits 7)`);
    await c.assertNoLeaks("main-job-demo");
    console.log("no shim process, mount, FIFO or state left behind");
    return r.code === 7 && r.stdout.includes("hello from runtime-ts") ? 0 : 1;
  } finally {
    await c.stop();
  }
}

Deno.exit(await main());
