import { assertEquals, assertThrows } from "../tests/assert.ts";
import { ConfigError, UnimplementedError } from "../common/errors.ts";
import { loadConfig } from "../config/load.ts";
import { createHypervisor } from "./factory.ts";

const HOST = { cpus: 4, memoryMiB: 8192 };
const shipped = (name: string) => new URL(`../config/${name}`, import.meta.url).pathname;

Deno.test("factory builds QEMU, Firecracker and Cloud Hypervisor from the shipped configuration files", async () => {
  const fc = await loadConfig({ path: shipped("configuration-fc.toml"), host: HOST });
  const f = createHypervisor(fc.hypervisorName!, fc.hypervisor!, { runRoot: "/tmp/x" });
  assertEquals([f.kind, f.state(), f.capabilities().netHotplug, f.capabilities().hybridVsock], [
    "firecracker",
    "not_ready",
    false,
    true,
  ]);
  const q = await loadConfig({ path: shipped("configuration-qemu.toml"), host: HOST });
  const h = createHypervisor(q.hypervisorName!, q.hypervisor!);
  const c = await loadConfig({ path: shipped("configuration-clh.toml"), host: HOST });
  const ch = createHypervisor(c.hypervisorName!, c.hypervisor!);
  assertEquals([ch.kind, ch.capabilities().netHotplug, ch.capabilities().hybridVsock], [
    "clh",
    true,
    true,
  ]);
  assertEquals([h.kind, h.capabilities().netHotplug, h.capabilities().hybridVsock], [
    "qemu",
    true,
    false,
  ]);
});

Deno.test("factory builds the built-in VMM from the shipped dragonball configuration", async () => {
  const db = await loadConfig({ path: shipped("configuration-dragonball.toml"), host: HOST });
  const d = createHypervisor(db.hypervisorName!, db.hypervisor!, { runRoot: "/tmp/x" });
  assertEquals([d.kind, d.state(), d.capabilities().fsSharing, d.capabilities().hybridVsock], [
    "dragonball",
    "not_ready",
    true,
    true,
  ]);
});

Deno.test("factory refuses unsupported hypervisors clearly", async () => {
  const q = await loadConfig({ path: shipped("configuration-qemu.toml"), host: HOST });
  assertThrows(() => createHypervisor("remote", q.hypervisor!), UnimplementedError, "peer pods");
  assertThrows(
    () => createHypervisor("xen", q.hypervisor!),
    UnimplementedError,
    "unknown hypervisor name",
  );
  assertThrows(
    () => createHypervisor("firecracker", { ...q.hypervisor!, network_queues: 2 }),
    Error,
    "single-queue",
  );
  assertThrows(
    () => createHypervisor("qemu", { ...q.hypervisor!, kernel: "" }),
    ConfigError,
    "kernel",
  );
  assertThrows(
    () => createHypervisor("qemu", { ...q.hypervisor!, enable_hugepages: true }),
    ConfigError,
    "[hypervisor.qemu] enable_hugepages is not supported by the QEMU driver",
  );
});
