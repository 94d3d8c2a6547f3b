import { stringify } from "smol-toml";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../tests/assert.ts";
import { ConfigError } from "../common/errors.ts";
import { globToRegExp, isHypervisorAnnotationEnabled, replaceKernelParams } from "./annotations.ts";
import { loadConfig } from "./load.ts";

const HOST = { cpus: 8, memoryMiB: 16384 };
const HV = "io.katacontainers.config.hypervisor.";

async function withConfig(
  hvKeys: Record<string, unknown>,
  fn: (file: string) => Promise<void>,
  extra: Record<string, unknown> = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "config-annotations-test-" });
  try {
    const file = `${dir}/configuration.toml`;
    await Deno.writeTextFile(
      file,
      stringify({
        hypervisor: {
          qemu: {
            path: "/usr/bin/qemu-system-x86_64",
            kernel: "/k",
            image: "/i",
            valid_hypervisor_paths: ["/usr/bin/qemu-*"],
            kernel_params: "console=hvc0 quiet",
            ...hvKeys,
          },
          ...extra,
        },
        runtime: { hypervisor_name: "qemu" },
      }),
    );
    await fn(file);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("annotations: an enabled hypervisor annotation is applied", async () => {
  await withConfig({ enable_annotations: ["default_vcpus", "default_memory"] }, async (file) => {
    const loaded = await loadConfig({
      path: file,
      host: HOST,
      annotations: { [`${HV}default_vcpus`]: "2", [`${HV}default_memory`]: "1024" },
    });
    assertEquals(loaded.hypervisor?.default_vcpus, 2);
    assertEquals(loaded.hypervisor?.default_memory, 1024);
  });
});

Deno.test("annotations: one not enabled by enable_annotations is refused, naming it", async () => {
  await withConfig({ enable_annotations: ["default_vcpus"] }, async (file) => {
    const e = await assertRejects(
      () => loadConfig({ path: file, annotations: { [`${HV}default_memory`]: "1024" } }),
      ConfigError,
    );
    assertStringIncludes(e.message, `Annotation ${HV}default_memory is not allowed`);
    assertStringIncludes(e.message, "enable_annotations in [hypervisor.qemu]");
  });
});

Deno.test("annotations: enable_annotations entries are regular expressions", async () => {
  await withConfig({ enable_annotations: ["default_.*"] }, async (file) => {
    const loaded = await loadConfig({
      path: file,
      host: HOST,
      annotations: { [`${HV}default_memory`]: "512" },
    });
    assertEquals(loaded.hypervisor?.default_memory, 512);
  });
  assert(!isHypervisorAnnotationEnabled(["path"], "jailer_path"));
  assert(isHypervisorAnnotationEnabled(["path", "kernel"], "kernel"));
  assert(!isHypervisorAnnotationEnabled(["(broken"], "kernel"));
});

Deno.test("annotations: an executable path must match the valid_*_paths globs", async () => {
  await withConfig({ enable_annotations: ["path"] }, async (file) => {
    const ok = await loadConfig({
      path: file,
      host: HOST,
      annotations: { [`${HV}path`]: "/usr/bin/qemu-kvm" },
    });
    assertEquals(ok.hypervisor?.path, "/usr/bin/qemu-kvm");
    const e = await assertRejects(
      () => loadConfig({ path: file, annotations: { [`${HV}path`]: "/tmp/evil" } }),
      ConfigError,
    );
    assertStringIncludes(e.message, `Annotation ${HV}path value "/tmp/evil" is not allowed`);
    assertStringIncludes(e.message, "valid_hypervisor_paths");
  });
});

Deno.test("annotations: a malformed value is refused, naming the annotation", async () => {
  await withConfig({ enable_annotations: ["enable_iommu", "default_memory"] }, async (file) => {
    await assertRejects(
      () => loadConfig({ path: file, annotations: { [`${HV}enable_iommu`]: "yes" } }),
      ConfigError,
      `Annotation ${HV}enable_iommu has invalid value "yes"`,
    );
    await assertRejects(
      () => loadConfig({ path: file, annotations: { [`${HV}default_memory`]: "1G" } }),
      ConfigError,
      "expected an integer",
    );
  });
});

Deno.test("annotations: limits of the hypervisor apply to annotated vCPUs and memory", async () => {
  await withConfig({ enable_annotations: [".*"] }, async (file) => {
    await assertRejects(
      () => loadConfig({ path: file, annotations: { [`${HV}default_vcpus`]: "1000" } }),
      ConfigError,
      "more than qemu's maximum 256",
    );
    await assertRejects(
      () => loadConfig({ path: file, annotations: { [`${HV}default_memory`]: "16" } }),
      ConfigError,
      "less than qemu's minimum 64 MiB",
    );
  });
});

Deno.test("annotations: kernel_params replaces parameters by key and appends new ones", async () => {
  await withConfig({ enable_annotations: ["kernel_params"] }, async (file) => {
    const loaded = await loadConfig({
      path: file,
      host: HOST,
      annotations: { [`${HV}kernel_params`]: "console=ttyS0 debug" },
    });
    assertEquals(loaded.hypervisor?.kernel_params, "quiet console=ttyS0 debug");
  });
  assertEquals(replaceKernelParams("a=1 b c=3", "c=4 d"), "a=1 b c=4 d");
  assertEquals(replaceKernelParams("a=1", ""), "a=1");
});

Deno.test("annotations: an unknown configuration annotation is refused; others are ignored", async () => {
  await withConfig({ enable_annotations: [".*"] }, async (file) => {
    await assertRejects(
      () => loadConfig({ path: file, annotations: { [`${HV}turbo`]: "1" } }),
      ConfigError,
      `Annotation ${HV}turbo is not supported`,
    );
    await assertRejects(
      () => loadConfig({ path: file, annotations: { "io.katacontainers.config.shim.x": "1" } }),
      ConfigError,
      "io.katacontainers.config.shim.x is not supported",
    );
    const loaded = await loadConfig({
      path: file,
      host: HOST,
      annotations: {
        "io.kubernetes.cri.sandbox-id": "x",
        "io.katacontainers.pkg.oci.bundle_path": "/b",
      },
    });
    assertEquals(loaded.hypervisorName, "qemu");
  });
});

Deno.test("annotations: runtime and agent annotations need no enable_annotations", async () => {
  await withConfig({}, async (file) => {
    const loaded = await loadConfig({
      path: file,
      host: HOST,
      annotations: {
        "io.katacontainers.config.runtime.internetworking_model": "none",
        "io.katacontainers.config.runtime.disable_new_netns": "true",
        "io.katacontainers.config.runtime.experimental": "a,b",
        "io.katacontainers.config.agent.kernel_modules": "e1000e InterruptThrottleRate=3000; i915",
        "io.katacontainers.config.agent.container_pipe_size": "65536",
      },
    });
    assertEquals(loaded.config.runtime.internetworking_model, "none");
    assertEquals(loaded.config.runtime.disable_new_netns, true);
    assertEquals(loaded.config.runtime.experimental, ["a", "b"]);
    assertEquals(loaded.agent?.kernel_modules, ["e1000e InterruptThrottleRate=3000", "i915"]);
    assertEquals(loaded.agent?.container_pipe_size, 65536);
  });
});

Deno.test("annotations: a runtime annotation that breaks validation names the annotation", async () => {
  await withConfig({}, async (file) => {
    const e = await assertRejects(
      () =>
        loadConfig({
          path: file,
          annotations: { "io.katacontainers.config.runtime.disable_new_netns": "true" },
        }),
      ConfigError,
    );
    assertStringIncludes(
      e.message,
      "disable_new_netns in section [runtime] of annotation io.katacontainers.config.runtime.disable_new_netns",
    );
  });
});

Deno.test("annotations: runtime.hypervisor_name selects another table of the file", async () => {
  const clh = { path: "/c", kernel: "/k", image: "/i" };
  await withConfig({}, async (file) => {
    const loaded = await loadConfig({
      path: file,
      host: HOST,
      annotations: { "io.katacontainers.config.runtime.hypervisor_name": "clh" },
    });
    assertEquals(loaded.hypervisorName, "clh");
    await assertRejects(
      () =>
        loadConfig({
          path: file,
          annotations: { "io.katacontainers.config.runtime.hypervisor_name": "firecracker" },
        }),
      ConfigError,
      'names "firecracker", which has no section',
    );
  }, { clh });
});

Deno.test("globToRegExp follows glob(3) for *, ? and [...]", () => {
  assert(globToRegExp("/usr/bin/qemu-*").test("/usr/bin/qemu-system-x86_64"));
  assert(!globToRegExp("/usr/bin/qemu-*").test("/usr/bin/qemu-x/../../evil"));
  assert(globToRegExp("/dev/?random").test("/dev/urandom"));
  assert(globToRegExp("/opt/[ab]/x").test("/opt/a/x"));
  assert(!globToRegExp("/opt/[!ab]/x").test("/opt/a/x"));
  assert(!globToRegExp("/a.b").test("/axb"));
});

Deno.test("annotations: hypervisor annotations are refused for linux_container", async () => {
  const dir = await Deno.makeTempDir({ prefix: "config-annotations-test-" });
  try {
    await Deno.writeTextFile(`${dir}/c.toml`, '[runtime]\nname = "linux_container"\n');
    await assertRejects(
      () => loadConfig({ path: `${dir}/c.toml`, annotations: { [`${HV}kernel`]: "/k" } }),
      ConfigError,
      "runtime linux_container runs no hypervisor",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
