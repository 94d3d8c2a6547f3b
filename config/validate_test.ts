import { stringify } from "smol-toml";
import { assert, assertEquals, assertStringIncludes } from "../tests/assert.ts";
import { ConfigError } from "../common/errors.ts";
import { loadConfig } from "./load.ts";
import { checkVerityParams } from "./validate.ts";

const HOST = { cpus: 512, memoryMiB: 1 << 20 };

type Tbl = Record<string, unknown>;

/** A valid configuration for `hv`, with `hvKeys`/`runtimeKeys`/`extra` merged over it. */
function configText(hv: string, hvKeys: Tbl = {}, runtimeKeys: Tbl = {}, extra: Tbl = {}) {
  return stringify({
    hypervisor: { [hv]: { path: "/p", kernel: "/k", image: "/i", ...hvKeys } },
    agent: { kata: (extra.agent as Tbl) ?? {} },
    runtime: { hypervisor_name: hv, ...runtimeKeys },
    ...(extra.linux_container ? { linux_container: extra.linux_container } : {}),
  });
}

async function load(text: string) {
  const dir = await Deno.makeTempDir({ prefix: "config-validate-test-" });
  const file = `${dir}/configuration.toml`;
  try {
    await Deno.writeTextFile(file, text);
    return { file, result: await loadConfig({ path: file, host: HOST }) };
  } catch (e) {
    return { file, error: e };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

interface Rule {
  rule: string;
  hv?: string;
  hvKeys?: Tbl;
  runtime?: Tbl;
  extra?: Tbl;
  /** Section and key the message must name. */
  section: string;
  key: string;
  reason: string;
}

const RULES: Rule[] = [
  {
    rule: "block_device_driver must be a known driver",
    hvKeys: { block_device_driver: "virtio-foo" },
    section: "hypervisor.qemu",
    key: "block_device_driver",
    reason: '"virtio-foo" is not one of',
  },
  {
    rule: "block_device_aio must be io_uring, native or threads",
    hvKeys: { block_device_aio: "posix" },
    section: "hypervisor.qemu",
    key: "block_device_aio",
    reason: '"posix" is not one of',
  },
  {
    rule: "sector sizes are 0 or a power of two in 512..65536",
    hvKeys: { block_device_logical_sector_size: 1000 },
    section: "hypervisor.qemu",
    key: "block_device_logical_sector_size",
    reason: "power of 2",
  },
  {
    rule: "logical sector size must not exceed the physical one",
    hvKeys: { block_device_logical_sector_size: 4096, block_device_physical_sector_size: 512 },
    section: "hypervisor.qemu",
    key: "block_device_logical_sector_size",
    reason: "larger than block_device_physical_sector_size",
  },
  {
    rule: "vm_rootfs_driver must be a known driver",
    hvKeys: { vm_rootfs_driver: "nvme" },
    section: "hypervisor.qemu",
    key: "vm_rootfs_driver",
    reason: '"nvme" is not one of',
  },
  {
    rule: "image and initrd are exclusive",
    hvKeys: { initrd: "/initrd" },
    section: "hypervisor.qemu",
    key: "initrd",
    reason: "both set",
  },
  {
    rule: "kernel_verity_params must be complete",
    hvKeys: { kernel_verity_params: "root_hash=abc" },
    section: "hypervisor.qemu",
    key: "kernel_verity_params",
    reason: "salt is missing",
  },
  {
    rule: "guest extension images need a name",
    hvKeys: { guest_extension_images: [{ name: "", path: "/x" }] },
    section: "hypervisor.qemu",
    key: "guest_extension_images[0].name",
    reason: "must not be empty",
  },
  {
    rule: "default_vcpus must not exceed default_maxvcpus",
    hvKeys: { default_vcpus: 4, default_maxvcpus: 2 },
    section: "hypervisor.qemu",
    key: "default_vcpus",
    reason: "greater than default_maxvcpus 2",
  },
  {
    rule: "default_vcpus within the hypervisor's maximum (QEMU 256)",
    hvKeys: { default_vcpus: 300 },
    section: "hypervisor.qemu",
    key: "default_vcpus",
    reason: "at most 256 vCPUs",
  },
  {
    rule: "default_maxvcpus within the hypervisor's maximum (Firecracker 32)",
    hv: "firecracker",
    hvKeys: { default_maxvcpus: 64 },
    section: "hypervisor.firecracker",
    key: "default_maxvcpus",
    reason: "at most 32 vCPUs",
  },
  {
    rule: "default_memory at least the hypervisor's minimum (QEMU 64 MiB)",
    hvKeys: { default_memory: 32 },
    section: "hypervisor.qemu",
    key: "default_memory",
    reason: "minimum of 64 MiB",
  },
  {
    rule: "default_memory at least the hypervisor's minimum (Firecracker 128 MiB)",
    hv: "firecracker",
    hvKeys: { default_memory: 64 },
    section: "hypervisor.firecracker",
    key: "default_memory",
    reason: "minimum of 128 MiB",
  },
  {
    rule: "root ports and switch ports are exclusive",
    hvKeys: { pcie_root_port: 2, pcie_switch_port: 2 },
    section: "hypervisor.qemu",
    key: "pcie_switch_port",
    reason: "cannot both be set",
  },
  {
    rule: "shared_fs must be a known type",
    hvKeys: { shared_fs: "virtio-nfs" },
    section: "hypervisor.qemu",
    key: "shared_fs",
    reason: '"virtio-nfs" is not one of',
  },
  {
    rule: "virtio_fs_cache must be never, auto or always",
    hvKeys: { virtio_fs_cache: "sometimes" },
    section: "hypervisor.qemu",
    key: "virtio_fs_cache",
    reason: '"sometimes" is not one of',
  },
  {
    rule: "cold_plug_vfio must be a known port type",
    hvKeys: { cold_plug_vfio: "everywhere" },
    section: "hypervisor.qemu",
    key: "cold_plug_vfio",
    reason: '"everywhere" is not one of',
  },
  {
    rule: "hypervisor log_level must be a known level",
    hvKeys: { log_level: "loud" },
    section: "hypervisor.qemu",
    key: "log_level",
    reason: '"loud" is not one of',
  },
  {
    rule: "QEMU has no jailer",
    hvKeys: { jailer_path: "/usr/bin/jailer" },
    section: "hypervisor.qemu",
    key: "jailer_path",
    reason: "no jailer",
  },
  {
    rule: "QEMU has no jailer allow-list",
    hvKeys: { valid_jailer_paths: ["/usr/bin/jailer"] },
    section: "hypervisor.qemu",
    key: "valid_jailer_paths",
    reason: "no jailer",
  },
  {
    rule: "QEMU does not do virtio-blk-mmio block devices",
    hvKeys: { block_device_driver: "virtio-blk-mmio" },
    section: "hypervisor.qemu",
    key: "block_device_driver",
    reason: "does not support virtio-blk-mmio",
  },
  {
    rule: "confidential guests must not boot from virtio-blk-mmio",
    hvKeys: { confidential_guest: true, vm_rootfs_driver: "virtio-blk-mmio" },
    section: "hypervisor.qemu",
    key: "vm_rootfs_driver",
    reason: "confidential guests",
  },
  {
    rule: "QEMU needs a kernel",
    hvKeys: { kernel: "" },
    section: "hypervisor.qemu",
    key: "kernel",
    reason: "must be set",
  },
  {
    rule: "QEMU needs an image or an initrd (non-confidential)",
    hvKeys: { image: "" },
    section: "hypervisor.qemu",
    key: "image",
    reason: "neither image nor initrd",
  },
  {
    rule: "QEMU does not support guest swap",
    hvKeys: { enable_guest_swap: true },
    section: "hypervisor.qemu",
    key: "enable_guest_swap",
    reason: "does not support guest swap",
  },
  {
    rule: "Firecracker needs a binary path",
    hv: "firecracker",
    hvKeys: { path: "" },
    section: "hypervisor.firecracker",
    key: "path",
    reason: "must be set",
  },
  {
    rule: "Firecracker needs a kernel",
    hv: "firecracker",
    hvKeys: { kernel: "" },
    section: "hypervisor.firecracker",
    key: "kernel",
    reason: "must be set",
  },
  {
    rule: "Firecracker needs an image",
    hv: "firecracker",
    hvKeys: { image: "" },
    section: "hypervisor.firecracker",
    key: "image",
    reason: "needs a guest image",
  },
  {
    rule: "agent log_level must be a known level",
    extra: { agent: { log_level: "chatty" } },
    section: "agent.kata",
    key: "log_level",
    reason: '"chatty" is not one of',
  },
  {
    rule: "runtime name must be virt_container, linux_container or wasm_container",
    runtime: { name: "kube_container" },
    section: "runtime",
    key: "name",
    reason: '"kube_container" is not one of',
  },
  {
    rule: "hypervisor_name must name an existing [hypervisor.*] table",
    runtime: { hypervisor_name: "clh" },
    section: "runtime",
    key: "hypervisor_name",
    reason: '"clh" names no hypervisor section (the file has [hypervisor.qemu])',
  },
  {
    rule: "agent_name must name an existing [agent.*] table",
    runtime: { agent_name: "other" },
    section: "runtime",
    key: "agent_name",
    reason: '"other" names no [agent.*] section',
  },
  {
    rule: "internetworking_model must be a known model",
    runtime: { internetworking_model: "bridged" },
    section: "runtime",
    key: "internetworking_model",
    reason: '"bridged" is not one of "tcfilter", "macvtap", "none", "l3forwarding"',
  },
  {
    rule: "disable_new_netns works only with internetworking_model none",
    runtime: { disable_new_netns: true, internetworking_model: "tcfilter" },
    section: "runtime",
    key: "disable_new_netns",
    reason: 'only with internetworking_model = "none"',
  },
  {
    rule: "vfio_mode must be vfio or guest-kernel",
    runtime: { vfio_mode: "mdev" },
    section: "runtime",
    key: "vfio_mode",
    reason: '"mdev" is not one of',
  },
  {
    rule: "emptydir_mode must be a known mode",
    runtime: { emptydir_mode: "tmpfs" },
    section: "runtime",
    key: "emptydir_mode",
    reason: '"tmpfs" is not one of',
  },
  {
    rule: "runtime log_level must be a known level",
    runtime: { log_level: "verbose" },
    section: "runtime",
    key: "log_level",
    reason: '"verbose" is not one of',
  },
  {
    rule: "oci_runtime must be runc, crun or an absolute path",
    extra: { linux_container: { oci_runtime: "youki" } },
    section: "linux_container",
    key: "oci_runtime",
    reason: 'neither "runc", "crun" nor an absolute path',
  },
];

for (const r of RULES) {
  Deno.test(`validation: ${r.rule}`, async () => {
    const { file, error } = await load(
      configText(r.hv ?? "qemu", r.hvKeys, r.runtime, r.extra),
    );
    if (!(error instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${error}`);
    assertStringIncludes(error.message, `${r.key} in section [${r.section}] of ${file}`);
    assertStringIncludes(error.message, r.reason);
  });
}

Deno.test("validation: the base configuration of the rule tests is itself valid", async () => {
  for (const hv of ["qemu", "firecracker", "dragonball", "clh", "remote"]) {
    const { error } = await load(configText(hv));
    assertEquals(error, undefined, hv);
  }
});

Deno.test("validation: every accepted internetworking_model loads; none allows disable_new_netns", async () => {
  for (const model of ["", "tcfilter", "macvtap", "none", "l3forwarding"]) {
    const { error } = await load(configText("qemu", {}, { internetworking_model: model }));
    assertEquals(error, undefined, model);
  }
  const { error } = await load(
    configText("qemu", {}, { internetworking_model: "none", disable_new_netns: true }),
  );
  assertEquals(error, undefined);
});

Deno.test("validation: confidential QEMU guests may boot without image or initrd (IBM SE)", async () => {
  const { error } = await load(configText("qemu", { image: "", confidential_guest: true }));
  assertEquals(error, undefined);
});

Deno.test("validation: all problems are reported at once", async () => {
  const { error } = await load(
    configText("qemu", { shared_fs: "nfs" }, { vfio_mode: "x", emptydir_mode: "y" }),
  );
  assert(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
  const msg = (error as Error).message;
  for (const k of ["shared_fs", "vfio_mode", "emptydir_mode"]) assertStringIncludes(msg, k);
});

Deno.test("checkVerityParams accepts complete parameters", () => {
  assertEquals(
    checkVerityParams(
      "root_hash=ab,salt=cd,data_blocks=10,data_block_size=4096,hash_block_size=4096",
    ),
    undefined,
  );
  assertStringIncludes(
    checkVerityParams(
      "root_hash=ab,salt=cd,data_blocks=10,data_block_size=100,hash_block_size=4096",
    ) ??
      "",
    "multiple of 512",
  );
});
