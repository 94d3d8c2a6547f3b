import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { mount } from "../../ffi/mount.ts";
import { identify, processStartTime } from "../../persist/process_identity.ts";
import { StateStore } from "../../persist/state_store.ts";
import { mountsUnder } from "../../resource/share_fs/mounts.ts";
import { cleanupVirtSandbox } from "./cleanup.ts";
import { testsNeeding } from "../../tests/tier.ts";

/** test: these tests need more than the unit tier (ignored, saying why, where missing). */
const test = testsNeeding({ root: true });

test("cleanup after a lost shim: VMM killed, shared mounts undone, sandbox dir removed, sources kept", async () => {
  const root = Deno.makeTempDirSync({ prefix: "virt-cleanup-" });
  const src = Deno.makeTempDirSync();
  // A stand-in process for the VMM: the cleanup must kill it since its start time matches.
  const vmm = new Deno.Command("sleep", { args: ["60"] }).spawn();
  try {
    Deno.writeTextFileSync(`${src}/keep`, "precious");
    const store = new StateStore({ root });
    const dir = store.dirOf("sb1");
    Deno.mkdirSync(`${dir}/shared/c1/rootfs`, { recursive: true });
    mount(src, `${dir}/shared/c1/rootfs`, "", ["rbind"]);
    await store.save({
      sandbox_id: "sb1",
      runtime: "virt_container",
      hypervisor: {
        hypervisor_type: "qemu",
        pid: vmm.pid,
        pid_start: processStartTime(vmm.pid),
        pid_exe: identify(vmm.pid)?.exe,
        uuid: "",
        api_socket: `${dir}/qemu/qmp.sock`,
        id: "sb1",
        vm_path: dir,
        jailed: false,
        jailer_root: "",
        netns: null,
        run_dir: `${dir}/qemu`,
        owned_paths: [`${dir}/qemu`],
      },
      resources: { share_fs: { kind: "virtio-9p", host_dir: `${dir}/shared` } },
    });
    await cleanupVirtSandbox(store, await store.load("sb1"));
    const st = await vmm.status;
    assertEquals(st.signal, "SIGKILL");
    assertEquals(mountsUnder(root), []);
    assertThrows(() => Deno.statSync(dir));
    assertEquals(Deno.readTextFileSync(`${src}/keep`), "precious");
    // Twice is fine.
    Deno.mkdirSync(dir);
    await cleanupVirtSandbox(store, {
      version: 1,
      sandbox_id: "sb1",
      runtime: "virt_container",
      hypervisor: null,
      containers: [],
      network_endpoints: [],
      resources: {},
      created_at: "",
      updated_at: "",
    });
    assert(![...Deno.readDirSync(root)].length);
  } finally {
    try {
      vmm.kill("SIGKILL");
    } catch { /* already dead */ }
    await vmm.status;
    Deno.removeSync(root, { recursive: true });
    Deno.removeSync(src, { recursive: true });
  }
});

Deno.test("cleanup after a lost shim kills its identified virtiofsd, never a process that reuses the pid", async () => {
  const root = Deno.makeTempDirSync({ prefix: "virt-cleanup-" });
  const daemon = new Deno.Command("sleep", { args: ["60"] }).spawn();
  const stranger = new Deno.Command("sleep", { args: ["60"] }).spawn();
  try {
    const store = new StateStore({ root });
    const save = async (id: string, pid: number, start: string) => {
      await store.save({
        sandbox_id: id,
        runtime: "virt_container",
        resources: {
          share_fs: {
            kind: "virtio-fs",
            host_dir: `${store.dirOf(id)}/shared`,
            daemon: { pid, start_time: start, exe: identify(pid)!.exe },
          },
        },
      });
      return await store.load(id);
    };
    const other = await save(
      "sb2",
      stranger.pid,
      String(Number(processStartTime(stranger.pid)) + 3),
    );
    await cleanupVirtSandbox(store, other);
    assert(processStartTime(stranger.pid) !== null, "a process that reuses the pid was killed");
    await cleanupVirtSandbox(store, await save("sb1", daemon.pid, processStartTime(daemon.pid)!));
    assertEquals((await daemon.status).signal, "SIGKILL");
    assertEquals([...Deno.readDirSync(root)], []);
  } finally {
    for (const p of [daemon, stranger]) {
      try {
        p.kill("SIGKILL");
      } catch { /* killed */ }
      await p.status;
    }
    Deno.removeSync(root, { recursive: true });
  }
});
