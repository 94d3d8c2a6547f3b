import { assert, assertEquals, assertRejects, assertThrows } from "../../tests/assert.ts";
import { ConfigError, FailedPreconditionError, UnimplementedError } from "../../common/errors.ts";
import type { Hypervisor } from "../hypervisor.ts";
import { Dragonball, dragonballBootArgs, dragonballOptionsFromConfig } from "./driver.ts";

function options(runRoot: string) {
  return dragonballOptionsFromConfig({
    kernel: "/nonexistent/vmlinux",
    image: "/nonexistent/rootfs.img",
    kernel_params: "agent.log=debug",
    default_vcpus: 1.5,
    default_memory: 512,
  }, runRoot);
}

Deno.test("dragonball options: config mapped, unbootable configs refused", () => {
  const o = options("/run/x");
  assertEquals([o.vcpus, o.memoryMib], [2, 512]);
  assertThrows(() => dragonballOptionsFromConfig({ initrd: "/i" }), ConfigError, "kernel");
  assertThrows(() => dragonballOptionsFromConfig({ kernel: "/k" }), ConfigError, "image");
  const args = dragonballBootArgs(o);
  assert(args.startsWith("console=ttyS0 reboot=k"));
  assert(args.includes("root=/dev/vda1") && args.endsWith("agent.log=debug"));
});

Deno.test("dragonball driver: devices queue before boot, agent on the run dir's hvsock", async () => {
  const root = await Deno.makeTempDir();
  const d = new Dragonball(options(root));
  try {
    await d.prepareVm({ id: "sb1" });
    assertEquals(d.state(), "prepared");
    assertEquals(d.agentSocket(), { kind: "hvsock", path: `${root}/sb1/kata.hvsock`, port: 1024 });
    const blk = await d.addDevice({ kind: "block", path: "/x.img", readOnly: true });
    assertEquals(blk.kind === "block" && blk.guestPath, "/dev/vdb"); // the image is vda
    const vs = await d.addDevice({ kind: "vsock", guestCid: 5 });
    assertEquals(vs.kind === "vsock" && vs.udsPath, `${root}/sb1/kata.hvsock`);
    await assertRejects(
      () => d.addDevice({ kind: "share_fs", fsType: "virtio-fs", mountTag: "t", hostPath: "/" }),
      UnimplementedError,
      'set shared_fs = "inline-virtio-fs"',
    );
    const inline = {
      kind: "share_fs",
      fsType: "inline-virtio-fs",
      mountTag: "kataShared",
      hostPath: root,
      cache: "auto",
    } as const;
    assertEquals(await d.addDevice(inline), inline);
    await assertRejects(
      () => d.addDevice({ ...inline, cacheSizeMib: 1024 }),
      UnimplementedError,
      "no DAX window",
    );
    assert(d.capabilities().inlineVirtioFs, "the built-in VMM serves virtio-fs itself");
    const share = {
      kind: "share_fs",
      fsType: "virtio-9p",
      mountTag: "kataShared",
      hostPath: root,
    } as const;
    assertEquals(await d.addDevice(share), share);
    assert(d.capabilities().fsSharing, "the built-in VMM shares files");
    await assertRejects(
      () => d.addDevice({ kind: "vfio", bdf: "0000:06:02.5" }),
      UnimplementedError,
    );
    // The in-process VMM's diagnostics are part of the Hypervisor interface: no VM, no counters.
    const hv: Hypervisor = d;
    assertEquals(hv.vmmCounters?.(), {});
    await assertRejects(() => hv.vcpuReport!(), FailedPreconditionError, "not started");
    // Booting fails (the kernel does not exist) without leaving the hvsock behind.
    await assertRejects(() => d.startVm(1000));
    assertEquals(d.pids(), []);
    assertEquals(d.saveState().run_dir, `${root}/sb1`);
    // The shim is the VMM: no VMM pid to kill later, and only its own socket is
    // owned (the run dir is the sandbox dir; it goes only when empty).
    assertEquals(d.saveState().pid, null);
    assertEquals(d.saveState().owned_paths, [`${root}/sb1/kata.hvsock`]);
    assertEquals(d.saveState().owned_empty_dirs, [`${root}/sb1`]);
    Deno.writeTextFileSync(`${root}/sb1/state.json`, "{}");
    await d.cleanup();
    assertEquals(Deno.readTextFileSync(`${root}/sb1/state.json`), "{}", "others' files stay");
    Deno.removeSync(`${root}/sb1/state.json`);
  } finally {
    await d.cleanup();
    assertEquals([...Deno.readDirSync(root)].length, 0);
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the built-in VMM refuses the keys it does not implement, like the other drivers", () => {
  const base = { kernel: "/k", image: "/i" };
  for (
    const [key, value] of [["enable_hugepages", true], ["enable_virtio_mem", true], [
      "firmware",
      "/f",
    ]] as const
  ) {
    let msg = "";
    try {
      dragonballOptionsFromConfig(
        { ...base, [key]: value } as Parameters<typeof dragonballOptionsFromConfig>[0],
      );
    } catch (e) {
      msg = (e as Error).message;
    }
    assertEquals(msg, `[hypervisor.dragonball] ${key} is not supported by the built-in VMM driver`);
  }
  assertEquals(dragonballOptionsFromConfig(base).kernel, "/k");
});
