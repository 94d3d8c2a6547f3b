import { assert, assertEquals } from "../tests/assert.ts";
import { cgroupVersion, checkHost } from "./host_check.ts";
import { loadConfig } from "./load.ts";

const HERE = new URL(".", import.meta.url).pathname;
const HOST = { cpus: 2, memoryMiB: 4096 };

async function fakeRoot(paths: string[]): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "host-check-test-" });
  for (const p of paths) {
    await Deno.mkdir(`${root}${p.slice(0, p.lastIndexOf("/"))}`, { recursive: true });
    await Deno.writeTextFile(`${root}${p}`, "");
  }
  return root;
}

Deno.test("cgroupVersion tells v2, hybrid, v1 and none apart", async () => {
  const cases: [string[], string][] = [
    [["/sys/fs/cgroup/cgroup.controllers"], "v2"],
    [["/sys/fs/cgroup/unified/cgroup.controllers", "/sys/fs/cgroup/cpu/tasks"], "hybrid"],
    [["/sys/fs/cgroup/cpu/tasks"], "v1"],
    [[], "none"],
  ];
  for (const [paths, expected] of cases) {
    const root = await fakeRoot(paths);
    try {
      assertEquals(cgroupVersion(root), expected);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  }
});

Deno.test("checkHost: a VM configuration needs the KVM, vsock, vhost-net and tun devices", async () => {
  const loaded = await loadConfig({ path: `${HERE}configuration-qemu.toml`, host: HOST });
  const root = await fakeRoot(["/dev/kvm", "/dev/net/tun", "/sys/fs/cgroup/cgroup.controllers"]);
  try {
    await Deno.mkdir(`${root}/proc`);
    await Deno.writeTextFile(`${root}/proc/cpuinfo`, "processor\t: 0\nflags\t\t: fpu vmx lm\n");
    const items = checkHost(loaded, { root });
    const byName = new Map(items.map((i) => [i.name, i]));
    assertEquals(byName.get("/dev/kvm")?.ok, true);
    assertEquals(byName.get("/dev/net/tun")?.ok, true);
    const vsock = byName.get("/dev/vhost-vsock");
    assertEquals([vsock?.ok, vsock?.required], [false, true]);
    assert(vsock?.hint?.includes("modprobe vhost_vsock"));
    assertEquals(byName.get("cgroup")?.detail, "v2");
    // The guest artifacts the file names are checked too, with a hint when absent.
    const kernel = items.find((i) => i.name.startsWith("guest kernel "));
    assertEquals(kernel?.detail, "[hypervisor.qemu] kernel");
    if (!kernel?.ok) assert(kernel?.hint?.includes("scripts/build-guest --install"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("checkHost: linux_container needs no KVM device but does need the OCI runtime", async () => {
  const loaded = await loadConfig({
    path: `${HERE}configuration-linux-container.toml`,
    host: HOST,
  });
  const root = await fakeRoot(["/sys/fs/cgroup/cgroup.controllers"]);
  try {
    const items = checkHost(loaded, { root });
    const kvm = items.find((i) => i.name === "/dev/kvm");
    assertEquals([kvm?.ok, kvm?.required], [false, false]);
    const oci = items.find((i) => i.name.startsWith("OCI runtime binary"));
    assertEquals(oci?.required, true);
    assertEquals(oci?.ok, loaded.ociRuntime?.path !== undefined);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("checkHost: a device node that cannot be opened counts as missing", async () => {
  const loaded = await loadConfig({ path: `${HERE}configuration-qemu.toml`, host: HOST });
  const root = await fakeRoot(["/sys/fs/cgroup/cgroup.controllers"]);
  try {
    // A directory in place of the device: present, but opening it read-write fails.
    await Deno.mkdir(`${root}/dev/kvm`, { recursive: true });
    const kvm = checkHost(loaded, { root }).find((i) => i.name === "/dev/kvm");
    assertEquals(kvm?.ok, false);
    assert(kvm?.detail?.startsWith("present but cannot be opened"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("check requires a vmx or svm CPU flag besides the /dev/kvm node", async () => {
  const root = await fakeRoot(["/sys/fs/cgroup/cgroup.controllers"]);
  try {
    const loaded = await loadConfig({ path: `${HERE}configuration-qemu.toml`, host: HOST });
    const name = "hardware virtualization (vmx/svm CPU flag)";
    await Deno.mkdir(`${root}/proc`);
    await Deno.writeTextFile(`${root}/proc/cpuinfo`, "processor\t: 0\nflags\t\t: fpu sse2 lm\n");
    await Deno.mkdir(`${root}/dev`);
    await Deno.writeTextFile(`${root}/dev/kvm`, "");
    const items = checkHost(loaded, { root });
    const missing = items.find((i) => i.name === name);
    assertEquals([missing?.ok, missing?.required], [false, true]);
    assert(missing?.hint?.includes("nested virtualization"));
    // The node opens, but without vmx/svm it cannot run a guest: /dev/kvm is not reported ok.
    const kvm = items.find((i) => i.name === "/dev/kvm");
    assertEquals(kvm?.ok, false);
    assert(kvm?.detail?.includes("cannot run a normal guest"), kvm?.detail);
    await Deno.writeTextFile(`${root}/proc/cpuinfo`, "processor\t: 0\nflags\t\t: fpu svm lm\n");
    const present = checkHost(loaded, { root }).find((i) => i.name === name);
    assertEquals([present?.ok, present?.detail], [true, "svm"]);
    assertEquals(checkHost(loaded, { root }).find((i) => i.name === "/dev/kvm")?.ok, true);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
