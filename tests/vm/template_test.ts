/**
 * VM group: VM templates on the built-in VMM. `shim-ctl factory init` boots
 * a VM to a ready agent and saves it under a template_path on tmpfs; two
 * containers then start in sandboxes restored from it. Both guests come
 * from one boot (same boot id) yet are their own machines: different
 * random streams (uuid, urandom), a file in one guest's tmpfs is absent
 * from the other; `factory destroy` and stopping one clone leave the other
 * running. Last, a clone whose template memory file is truncated under it
 * fails with an error that says so, and its sandbox is cleaned up.
 *
 * (Without CNI, `ctr run` gives the pods no NIC: the MAC and IP checks of
 * issue 27 need the CRI pod test and are not made here.)
 *
 * Needs /dev/kvm: scripts/test-vm runs it inside scripts/testhost.
 */
import { assert, assertEquals, assertNotEquals } from "../assert.ts";
import { Containerd, IMAGE, run as runCmd } from "../containerd/harness.ts";
import { configWithBuiltGuest, SLOW_VM_CONTAINERD } from "./guest_config.ts";
import { killClients, until, vmTest } from "./deadline.ts";
import { needs } from "../tier.ts";

async function taskGone(c: Containerd, id: string): Promise<boolean> {
  const ls = await c.ctr("task", "ls");
  const line = ls.stdout.split("\n").find((l) => l.split(/\s+/)[0] === id);
  return line === undefined || /STOPPED/.test(line);
}

vmTest({
  name: "VM templates: two sandboxes restored from one template are one boot but two machines",
  ignore: needs({ paths: ["/dev/kvm"] }).ignore,
  deadlineMs: 900_000,
}, async (ctx) => {
  const cfgDir = await Deno.makeTempDir({ prefix: "rts-tmpl-cfg-" });
  // /run is tmpfs: the template's memory is a tmpfs file, as upstream's default path is.
  const template = await Deno.makeTempDir({ dir: "/run", prefix: "rts-tmpl-" });
  ctx.step("containerd to start");
  const c = await Containerd.start(SLOW_VM_CONTAINERD);
  ctx.evidence("containerd log (with the shim's and the guest console's lines)", () => c.log());
  ctx.onDeadline(() => killClients("ctr", c.address));
  const started: string[] = [];
  try {
    const config = await configWithBuiltGuest("dragonball", cfgDir, ['kernel_params = ""']);
    await Deno.writeTextFile(
      `${cfgDir}/config.d/60-template.toml`,
      `[hypervisor.dragonball.factory]\nenable_template = true\ntemplate_path = "${template}"\n`,
    );
    const factory = (action: string) =>
      runCmd(c.shim, ["shim-ctl", "factory", action, "--config", config]);
    const start = async (id: string) => {
      ctx.step(`\`ctr run -d ${id}\` (restored from the template) to start`);
      const r = await c.ctr(
        "run",
        "-d",
        "--runtime",
        c.shim,
        "--runtime-config-path",
        config,
        IMAGE,
        id,
        "sleep",
        "900",
      );
      assertEquals(r.code, 0, `ctr run -d ${id} failed: ${r.stdout}${r.stderr}`);
      started.push(id);
    };
    let execs = 0;
    const exec = async (id: string, script: string) => {
      const r = await c.ctr("task", "exec", "--exec-id", `e${execs++}`, id, "sh", "-c", script);
      return { code: r.code, out: r.stdout.trim(), err: r.stderr };
    };
    const identity = async (id: string) => {
      const r = await exec(
        id,
        "cat /proc/sys/kernel/random/boot_id; cat /proc/sys/kernel/random/uuid; " +
          "head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo",
      );
      assertEquals(r.code, 0, `exec in ${id}: ${r.out}${r.err}`);
      const [boot, uuid, random] = r.out.split(/\r?\n/);
      return { boot, uuid, random };
    };

    ctx.step("`shim-ctl factory init` (boot, agent, save) to end");
    const init = await factory("init");
    assertEquals(init.code, 0, `factory init: ${init.stdout}${init.stderr}`);
    assert(init.stdout.includes(`Template saved at ${template}`), init.stdout);
    const status = await factory("status");
    assertEquals(status.code, 0, status.stderr);
    assert(status.stdout.startsWith(`Template at ${template}: kernel `), status.stdout);

    await start("tmpl-a");
    await start("tmpl-b");
    const log = await c.log();
    for (const id of ["tmpl-a", "tmpl-b"]) {
      assert(
        log.includes(`sandbox ${id} is restored from the template`),
        `${id} was not restored from the template (see the log)`,
      );
    }
    ctx.step("the identities of both clones");
    const a = await identity("tmpl-a");
    const b = await identity("tmpl-b");
    assertEquals(a.boot, b.boot, "two clones of one template share the template's boot");
    assertNotEquals(a.uuid, b.uuid, "the clones' random streams must differ");
    assertNotEquals(a.random, b.random, "the clones' /dev/urandom must differ");

    ctx.step("a file in one clone's memory (tmpfs) is absent from the other");
    assertEquals(
      (await exec("tmpl-a", "echo only-in-a >/dev/shm/mark; cat /dev/shm/mark")).out,
      "only-in-a",
    );
    const other = await exec("tmpl-b", "cat /dev/shm/mark 2>/dev/null || echo absent");
    assertEquals(other.out, "absent");

    ctx.step("`shim-ctl factory destroy`; the clones keep running");
    const destroy = await factory("destroy");
    assertEquals(destroy.code, 0, destroy.stderr);
    assertEquals((await factory("status")).code, 1, "no template after destroy");
    assertEquals((await exec("tmpl-a", "cat /dev/shm/mark")).out, "only-in-a");

    ctx.step("stopping tmpl-a leaves tmpl-b running");
    await c.ctrMust("task", "kill", "-s", "SIGKILL", "tmpl-a");
    await until(
      "tmpl-a to stop",
      async () => (await taskGone(c, "tmpl-a")) || undefined,
      ctx.signal,
    );
    await c.ctrMust("task", "rm", "-f", "tmpl-a");
    await c.ctrMust("container", "rm", "tmpl-a");
    started.splice(started.indexOf("tmpl-a"), 1);
    await c.assertNoLeaks("tmpl-a");
    assertEquals((await exec("tmpl-b", "echo alive")).out, "alive");

    ctx.step("a clone whose template memory is truncated under it fails, saying so");
    const again = await factory("init");
    assertEquals(again.code, 0, `factory init again: ${again.stdout}${again.stderr}`);
    await start("tmpl-c");
    const state = JSON.parse(await Deno.readTextFile(`${template}/state.json`));
    await Deno.truncate(`${template}/${state.memoryFile}`, 4096);
    await until(
      "tmpl-c to end after the truncation",
      async () => (await taskGone(c, "tmpl-c")) || undefined,
      ctx.signal,
      500,
    );
    const after = await c.log();
    assert(
      after.includes("was truncated to 4096 bytes under the VM"),
      "the log does not name the truncated memory file",
    );
    await c.ctr("task", "rm", "-f", "tmpl-c");
    await c.ctrMust("container", "rm", "tmpl-c");
    started.splice(started.indexOf("tmpl-c"), 1);
    await c.assertNoLeaks("tmpl-c");
  } finally {
    ctx.step("containerd's clean-up");
    for (const id of started) {
      await c.ctr("task", "kill", "-s", "SIGKILL", id);
      await c.ctr("task", "rm", "-f", id);
      await c.ctr("container", "rm", id);
    }
    await c.stop();
    await Deno.remove(cfgDir, { recursive: true });
    await Deno.remove(template, { recursive: true }).catch(() => {});
  }
});
