/**
 * Test support: an OCI bundle whose rootfs is busybox-static, made with
 * `runc spec` (no image, no containerd).
 * @module
 */
import { assert } from "./assert.ts";

/** Writes `<dir>/bundle` running `args`; returns the bundle path. */
export async function busyboxBundle(
  dir: string,
  args: string[],
  opts: { terminal?: boolean; memoryLimit?: number } = {},
): Promise<string> {
  const bundle = `${dir}/bundle`;
  await Deno.mkdir(`${bundle}/rootfs/bin`, { recursive: true });
  await Deno.mkdir(`${bundle}/rootfs/tmp`, { recursive: true });
  await Deno.copyFile("/bin/busybox", `${bundle}/rootfs/bin/busybox`);
  await Deno.chmod(`${bundle}/rootfs/bin/busybox`, 0o755);
  for (const a of ["sh", "sleep", "echo", "cat", "tty", "tail"]) {
    await Deno.symlink("busybox", `${bundle}/rootfs/bin/${a}`);
  }
  const spec = await new Deno.Command("runc", { args: ["spec"], cwd: bundle }).output();
  assert(spec.success, "runc spec failed");
  const config = JSON.parse(await Deno.readTextFile(`${bundle}/config.json`));
  config.process.terminal = opts.terminal ?? false;
  config.process.args = args;
  if (opts.memoryLimit) config.linux.resources = { memory: { limit: opts.memoryLimit } };
  // One level, so that runc removes the whole cgroup on delete.
  config.linux.cgroupsPath = `/rts-test-${dir.split("/").pop()}`;
  await Deno.writeTextFile(`${bundle}/config.json`, JSON.stringify(config));
  return bundle;
}
