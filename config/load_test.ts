import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../tests/assert.ts";
import { ConfigError, FailedPreconditionError } from "../common/errors.ts";
import { loadConfig } from "./load.ts";
import { requirePaths } from "./paths.ts";

const HERE = new URL(".", import.meta.url).pathname;
const UPSTREAM = new URL("./testdata/upstream/", import.meta.url).pathname;
const HOST = { cpus: 4, memoryMiB: 8192 };

async function tomlFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".toml")) names.push(e.name);
  return names.sort();
}

async function withFile(text: string, fn: (file: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "config-load-test-" });
  try {
    await Deno.writeTextFile(`${dir}/configuration.toml`, text);
    await fn(`${dir}/configuration.toml`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const SHIPPED = [
  "configuration-clh.toml",
  "configuration-dragonball.toml",
  "configuration-fc.toml",
  "configuration-linux-container.toml",
  "configuration-qemu-coco-dev.toml",
  "configuration-qemu-se.toml",
  "configuration-qemu-snp.toml",
  "configuration-qemu-tdx.toml",
  "configuration-qemu.toml",
  "configuration-remote.toml",
];

Deno.test("every shipped configuration file is present and loads", async () => {
  assertEquals(await tomlFiles(HERE), SHIPPED);
  for (const name of SHIPPED) {
    const loaded = await loadConfig({ path: `${HERE}${name}`, host: HOST });
    if (name === "configuration-linux-container.toml") {
      assertEquals(loaded.runtimeName, "linux_container");
      assertEquals(loaded.ociRuntime?.name, "runc");
    } else {
      assertEquals(loaded.runtimeName, "virt_container", name);
      assert(loaded.hypervisor !== undefined, name);
      const expected = name.replace(/^configuration-/, "").replace(/(-.*)?\.toml$/, "");
      assertEquals(loaded.hypervisorName, expected === "fc" ? "firecracker" : expected, name);
    }
  }
});

Deno.test("all 15 upstream runtime-rs configuration files load unchanged", async () => {
  const names = await tomlFiles(UPSTREAM);
  assertEquals(names.length, 15);
  for (const name of names) {
    const loaded = await loadConfig({ path: `${UPSTREAM}${name}`, host: HOST });
    assertEquals(loaded.runtimeName, "virt_container", name);
    assert(loaded.hypervisor !== undefined, name);
  }
});

Deno.test("upstream's i64::MAX compact_force_times is kept exactly", async () => {
  const loaded = await loadConfig({ path: `${HERE}configuration-dragonball.toml`, host: HOST });
  assertEquals(loaded.agent?.mem_agent.compact_force_times, 9223372036854775807n);
});

Deno.test("an unknown key under [runtime] is refused, naming key, section and file", async () => {
  await withFile('[runtime]\nname = "virt_container"\nfrobnicate = 1\n', async (file) => {
    const e = await assertRejects(() => loadConfig({ path: file }), ConfigError);
    assertStringIncludes(e.message, 'unknown key "frobnicate"');
    assertStringIncludes(e.message, "[runtime]");
    assertStringIncludes(e.message, file);
  });
});

Deno.test("unknown keys in nested tables name the nested section", async () => {
  const text = "[hypervisor.qemu]\nbogus_hv = 1\n[hypervisor.qemu.factory]\nbogus_factory = 1\n" +
    "[agent.kata]\n[agent.kata.mem_agent]\nbogus_mem = 1\n";
  await withFile(text, async (file) => {
    const e = await assertRejects(() => loadConfig({ path: file }), ConfigError);
    assertStringIncludes(e.message, 'unknown key "bogus_hv" in section [hypervisor.qemu] of');
    assertStringIncludes(
      e.message,
      'unknown key "bogus_factory" in section [hypervisor.qemu.factory] of',
    );
    assertStringIncludes(e.message, 'unknown key "bogus_mem" in section [agent.kata.mem_agent]');
  });
});

Deno.test("an unknown hypervisor table or top-level key is refused", async () => {
  await withFile('[hypervisor.vmware]\npath = "/x"\n[tuning]\nx = 1\n', async (file) => {
    const e = await assertRejects(() => loadConfig({ path: file }), ConfigError);
    assertStringIncludes(e.message, 'unknown hypervisor "vmware": section [hypervisor.vmware]');
    assertStringIncludes(e.message, 'unknown key "tuning" at top level');
  });
});

Deno.test("a value of the wrong type names key, section and file", async () => {
  await withFile('[hypervisor.qemu]\ndefault_memory = "lots"\n', async (file) => {
    const e = await assertRejects(() => loadConfig({ path: file }), ConfigError);
    assertStringIncludes(e.message, 'key "default_memory" in section [hypervisor.qemu]');
    assertStringIncludes(e.message, file);
    assertStringIncludes(e.message, "expected number");
  });
});

Deno.test("an inline table entry with a bad field names the array index", async () => {
  await withFile(
    '[hypervisor.qemu]\nguest_extension_images = [{name = "x", path = "/p", colour = "red"}]\n',
    async (file) => {
      const e = await assertRejects(() => loadConfig({ path: file }), ConfigError);
      assertStringIncludes(e.message, 'unknown key "guest_extension_images[0].colour"');
    },
  );
});

Deno.test("vCPU and memory ceilings follow the host when unset or too large", async () => {
  await withFile(
    '[hypervisor.qemu]\nkernel = "/k"\nimage = "/i"\ndefault_vcpus = -1\ndefault_maxvcpus = 0\n' +
      "default_memory = 2048\ndefault_maxmemory = 99999\n",
    async (file) => {
      const { hypervisor } = await loadConfig({ path: file, host: { cpus: 3, memoryMiB: 4096 } });
      assertEquals(hypervisor?.default_maxvcpus, 3);
      assertEquals(hypervisor?.default_vcpus, 3);
      assertEquals(hypervisor?.default_maxmemory, 4096);
      assertEquals(hypervisor?.default_memory, 2048);
    },
  );
});

Deno.test("empty names select virt_container, the only hypervisor table, and agent kata", async () => {
  await withFile('[hypervisor.clh]\nkernel = "/k"\nimage = "/i"\n', async (file) => {
    const loaded = await loadConfig({ path: file, host: HOST });
    assertEquals(loaded.runtimeName, "virt_container");
    assertEquals(loaded.hypervisorName, "clh");
    assertEquals(loaded.agent?.dial_timeout_ms, 10);
    // Upstream defaults fill what the file leaves out.
    assertEquals(loaded.hypervisor?.block_device_driver, "virtio-blk-pci");
    assertEquals(loaded.hypervisor?.shared_fs, "virtio-fs");
    assertEquals(loaded.hypervisor?.default_memory, 128);
    assertEquals(loaded.config.runtime.internetworking_model, "tcfilter");
  });
});

Deno.test("missing host files are warnings on load and fatal through requirePaths", async () => {
  await withFile(
    '[hypervisor.qemu]\npath = "/nonexistent/qemu"\nkernel = "/nonexistent/vmlinux"\n' +
      'image = "/nonexistent/img"\nshared_fs = "none"\n',
    async (file) => {
      const loaded = await loadConfig({ path: file, host: HOST });
      assertEquals(loaded.warnings.map((w) => w.path), [
        "/nonexistent/qemu",
        "/nonexistent/vmlinux",
        "/nonexistent/img",
      ]);
      assertStringIncludes(loaded.warnings[0].message, "[hypervisor.qemu] path");
      assertStringIncludes(loaded.warnings[0].message, file);
      const e = assertThrows(() => requirePaths(loaded.warnings), FailedPreconditionError);
      assertStringIncludes(e.message, "guest kernel /nonexistent/vmlinux does not exist");
      requirePaths([]);
    },
  );
});

Deno.test("linux_container resolves the OCI runtime binary; a missing one is a warning", async () => {
  const abs = Deno.execPath();
  await withFile(
    `[runtime]\nname = "linux_container"\n[linux_container]\noci_runtime = "${abs}"\n`,
    async (file) => {
      const loaded = await loadConfig({ path: file, host: HOST });
      assertEquals(loaded.ociRuntime?.path, abs);
      assertEquals(loaded.warnings, []);
      assertEquals(loaded.hypervisor, undefined);
    },
  );
  await withFile(
    '[runtime]\nname = "linux_container"\n[linux_container]\noci_runtime = "/nonexistent/crun"\n',
    async (file) => {
      const loaded = await loadConfig({ path: file, host: HOST });
      assertEquals(loaded.ociRuntime?.path, undefined);
      assertStringIncludes(loaded.warnings[0].message, "OCI runtime binary /nonexistent/crun");
    },
  );
});
