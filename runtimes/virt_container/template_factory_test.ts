import { assert, assertEquals, assertRejects, assertThrows } from "../../tests/assert.ts";
import { FailedPreconditionError, NotFoundError } from "../../common/errors.ts";
import { loadConfig } from "../../config/load.ts";
import { factoryDestroy, factoryInit, factoryStatus, templateDir } from "./template_factory.ts";

const SHIPPED = (name: string) => new URL(`../../config/${name}`, import.meta.url).pathname;

async function config(dir: string, shipped: string, extra: string) {
  const file = `${dir}/configuration.toml`;
  await Deno.copyFile(SHIPPED(shipped), file);
  await Deno.mkdir(`${dir}/config.d`, { recursive: true });
  await Deno.writeTextFile(`${dir}/config.d/50-test.toml`, extra);
  return await loadConfig({ path: file });
}

Deno.test("factory: refused with the reason where templating is off or the hypervisor is not the built-in VMM", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const off = await config(dir, "configuration-dragonball.toml", "");
    assertThrows(() => templateDir(off), FailedPreconditionError, "enable_template is off in");
    const qemu = await config(
      dir,
      "configuration-qemu.toml",
      "[hypervisor.qemu.factory]\nenable_template = true\n",
    );
    assertThrows(() => factoryStatus(qemu), FailedPreconditionError, 'selects hypervisor "qemu"');
    await assertRejects(
      () => factoryInit(off, () => Promise.reject(new Error("not dialled"))),
      FailedPreconditionError,
      "enable_template is off",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("factory: status without a template says how to make one; destroy removes only template files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const t = `${dir}/template`;
    const on = await config(
      dir,
      "configuration-dragonball.toml",
      `[hypervisor.dragonball.factory]\nenable_template = true\ntemplate_path = "${t}"\n`,
    );
    assertEquals(templateDir(on), t);
    await assertRejects(() => factoryDestroy(on), NotFoundError, `No template at ${t}`);
    await Deno.mkdir(`${t}/share`, { recursive: true });
    assertThrows(() => factoryStatus(on), NotFoundError, "make one with shim-ctl factory init");
    for (const f of ["state.json", "memory-abc-1", "memory.building", "notes.txt"]) {
      await Deno.writeTextFile(`${t}/${f}`, "x");
    }
    assertEquals(await factoryDestroy(on), `Template at ${t} removed`);
    assertEquals([...Deno.readDirSync(t)].map((e) => e.name), ["notes.txt"], "not ours: kept");
    await Deno.remove(`${t}/notes.txt`);
    await factoryDestroy(on);
    assert(!(await Deno.stat(t).then(() => true, () => false)), "an emptied directory goes too");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
