/**
 * `shim delete` after a shim died: from the container's state.json it kills
 * and deletes the container through runc, removes the state, and prints a
 * binary DeleteResponse with exit status 137; a lost VM sandbox's shared
 * mounts are undone without deleting through them, as is a rootfs still
 * mounted where no state is left. Also `-info`.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./assert.ts";
import { setChildSubreaper } from "../ffi/process.ts";
import { LinuxContainerHandler } from "../runtimes/linux_container/handler.ts";
import { DeleteResponseSchema } from "../service/gen/containerd/task/v2/shim_pb.ts";
import { RuntimeInfoSchema } from "../service/gen/containerd/types/introspection_pb.ts";
import { busyboxBundle } from "./busybox_bundle.ts";
import { identify, mountsUnder, processStartTime, StateStore } from "../persist/mod.ts";
import { runShim } from "./command.ts";
import { testsNeeding } from "./tier.ts";

const test = testsNeeding({ root: true, peers: ["runc"] });

async function shim(args: string[], cwd: string, env: Record<string, string> = {}) {
  const out = await runShim(args, { cwd, env });
  return { code: out.code, stdout: out.stdoutBytes, stderr: out.stderr };
}

test({
  name: "shim delete: cleans up a container its dead shim left running",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    setChildSubreaper(true);
    const dir = await Deno.makeTempDir({ prefix: "rts-del-" });
    const id = `del-${dir.slice(-6)}`;
    const handler = new LinuxContainerHandler({ runtimeRoot: `${dir}/runc` });
    try {
      const bundle = await busyboxBundle(dir, ["sleep", "1000"]);
      const io = { stdin: "", stdout: "", stderr: "", terminal: false };
      await handler.createContainer({ id, bundle, rootfs: [], ...io });
      await handler.start(id, "");
      // The shim "dies" here: only its state on disk is left for `delete`.
      const r = await shim(
        [
          "-namespace",
          "rts-test",
          "-address",
          `${dir}/c.sock`,
          "-id",
          id,
          "-bundle",
          bundle,
          "delete",
        ],
        bundle,
      );
      assertEquals(r.code, 0, r.stderr);
      const resp = fromBinary(DeleteResponseSchema, r.stdout);
      assertEquals(resp.exitStatus, 137);
      assert(resp.exitedAt !== undefined);
      const exit = await handler.wait(id, "");
      assertEquals(exit.exitStatus, 137);
      await assertRejects(() => Deno.stat(`/run/kata/${id}`), Deno.errors.NotFound); // removed
      const list = await new Deno.Command("runc", {
        args: ["--root", `${dir}/runc`, "list", "-q"],
        stdout: "piped",
      }).output();
      assert(!new TextDecoder().decode(list.stdout).includes(id), "runc still knows the container");
      // Running it again (containerd may) is harmless.
      const again = await shim(["-id", id, "-bundle", bundle, "delete"], bundle);
      assertEquals(again.code, 0, again.stderr);
    } finally {
      await handler.shutdown();
      setChildSubreaper(false);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Bind-mounts `source` on `target` (made here); the caller unmounts it if the test fails. */
async function bindMount(source: string, target: string): Promise<void> {
  await Deno.mkdir(target, { recursive: true });
  const out = await new Deno.Command("mount", { args: ["--bind", source, target] }).output();
  assert(out.success, `mount --bind ${source} ${target} failed`);
}

async function umountQuiet(target: string): Promise<void> {
  await new Deno.Command("umount", { args: ["-l", target], stderr: "null" }).output();
}

test("shim delete: a lost VM sandbox's shared rootfs mount is undone, its files kept, its state removed", async () => {
  const root = await Deno.makeTempDir({ prefix: "rts-del-root-" });
  const source = await Deno.makeTempDir({ prefix: "rts-del-src-" });
  const shared = `${root}/vm1/shared`;
  try {
    await Deno.writeTextFile(`${source}/keep`, "container files");
    await bindMount(source, `${shared}/c1/rootfs`);
    await new StateStore({ root }).save({
      sandbox_id: "vm1",
      runtime: "virt_container",
      resources: { share_fs: { host_dir: shared } },
    });
    const r = await shim(["-id", "vm1", "-bundle", root, "delete"], root, {
      KATA_PERSIST_ROOT: root,
    });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stderr, "");
    assertEquals(fromBinary(DeleteResponseSchema, r.stdout).exitStatus, 137);
    assertEquals(await Deno.readTextFile(`${source}/keep`), "container files");
    await assertRejects(() => Deno.stat(`${root}/vm1`), Deno.errors.NotFound); // the sandbox dir is removed
    // Again, as containerd may: nothing left to do, no complaint.
    const again = await shim(["-id", "vm1", "-bundle", root, "delete"], root, {
      KATA_PERSIST_ROOT: root,
    });
    assertEquals([again.code, again.stderr], [0, ""]);
  } finally {
    await umountQuiet(`${shared}/c1/rootfs`);
    await Deno.remove(root, { recursive: true });
    await Deno.remove(source, { recursive: true });
  }
});

test("shim delete without state: a rootfs still mounted under the sandbox dir is unmounted, never deleted through", async () => {
  const root = await Deno.makeTempDir({ prefix: "rts-del-root-" });
  const source = await Deno.makeTempDir({ prefix: "rts-del-src-" });
  const bundle = await Deno.makeTempDir({ prefix: "rts-del-bundle-" });
  try {
    await Deno.writeTextFile(`${source}/keep`, "container files");
    await bindMount(source, `${root}/c2/rootfs`);
    const r = await shim(["-id", "c2", "-bundle", bundle, "delete"], bundle, {
      KATA_PERSIST_ROOT: root,
    });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(fromBinary(DeleteResponseSchema, r.stdout).exitStatus, 137);
    assertEquals(await Deno.readTextFile(`${source}/keep`), "container files");
    await assertRejects(() => Deno.stat(`${root}/c2`), Deno.errors.NotFound); // the sandbox dir is removed
  } finally {
    await umountQuiet(`${root}/c2/rootfs`);
    for (const d of [root, source, bundle]) await Deno.remove(d, { recursive: true });
  }
});

test("shim delete: a runtime kind it does not know says so and still answers 137", async () => {
  const root = await Deno.makeTempDir({ prefix: "rts-del-root-" });
  try {
    await new StateStore({ root }).save({ sandbox_id: "x1", runtime: "wasm_container" });
    const r = await shim(["-id", "x1", "-bundle", root, "delete"], root, {
      KATA_PERSIST_ROOT: root,
    });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(fromBinary(DeleteResponseSchema, r.stdout).exitStatus, 137);
    assertStringIncludes(
      r.stderr,
      "wasm_container sandbox after its shim was lost is not supported",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

test("shim -info: a binary RuntimeInfo", async () => {
  const r = await shim(["-info"], "/");
  assertEquals(r.code, 0, r.stderr);
  const info = fromBinary(RuntimeInfoSchema, r.stdout);
  assertEquals(info.name, "io.containerd.kata.v2");
  assert(info.version?.version, "no version");
  // No mount type is claimed: containerd keeps mkdir/, format/ and erofs mounts to itself.
  assertEquals(info.annotations["containerd.io/runtime-allow-mounts"], undefined);
});

/** A host directory with marker files and a nested dir, as a container's bind-mounted volume. */
async function hostDirWithMarkers(): Promise<string> {
  const src = await Deno.makeTempDir({ prefix: "rts-del-data-" });
  await Deno.writeTextFile(`${src}/marker`, "precious");
  await Deno.mkdir(`${src}/nested/deeper`, { recursive: true });
  await Deno.writeTextFile(`${src}/nested/deeper/marker2`, "also precious");
  return src;
}

async function assertMarkers(src: string): Promise<void> {
  assertEquals(await Deno.readTextFile(`${src}/marker`), "precious");
  assertEquals(await Deno.readTextFile(`${src}/nested/deeper/marker2`), "also precious");
}

function alive(pid: number): boolean {
  return processStartTime(pid) !== null;
}

/** The hypervisor part of state.json as the built-in VMM wrote it before issue 11. */
function oldBuiltInVmmState(dir: string, pid: number): Record<string, unknown> {
  return {
    hypervisor_type: "dragonball",
    pid,
    uuid: "",
    api_socket: "",
    id: "vm1",
    vm_path: "",
    jailed: false,
    jailer_root: "",
    netns: null,
    run_dir: dir,
    owned_paths: [dir],
  };
}

test("shim delete: a recorded VMM pid now held by an unrelated process survives; the bind-mounted host dir keeps its files", async () => {
  const root = await Deno.makeTempDir({ prefix: "rts-del-root-" });
  const src = await hostDirWithMarkers();
  const dir = `${root}/vm1`;
  const stranger = new Deno.Command("sleep", { args: ["120"] }).spawn();
  try {
    await bindMount(src, `${dir}/shared/c1/vol`);
    // The old built-in VMM record (empty api_socket, no start time) and a QEMU
    // record whose start time is not the stranger's: neither may kill it.
    for (
      const hypervisor of [
        oldBuiltInVmmState(dir, stranger.pid),
        {
          ...oldBuiltInVmmState(dir, stranger.pid),
          hypervisor_type: "qemu",
          pid_start: String(Number(processStartTime(stranger.pid)) + 7),
          pid_exe: identify(stranger.pid)!.exe,
          api_socket: `${dir}/qemu/qmp.sock`,
          owned_paths: [`${dir}/qemu`],
        },
      ]
    ) {
      if (!(await Deno.stat(`${dir}/shared/c1/vol/marker`).then(() => true, () => false))) {
        await bindMount(src, `${dir}/shared/c1/vol`);
      }
      await new StateStore({ root }).save({
        sandbox_id: "vm1",
        runtime: "virt_container",
        hypervisor,
        resources: { share_fs: { host_dir: `${dir}/shared` } },
      });
      const r = await shim(["-id", "vm1", "-bundle", root, "delete"], root, {
        KATA_PERSIST_ROOT: root,
      });
      assertEquals(r.code, 0, r.stderr);
      assertEquals(fromBinary(DeleteResponseSchema, r.stdout).exitStatus, 137);
      assert(
        alive(stranger.pid),
        `the unrelated process was killed (${hypervisor.hypervisor_type})`,
      );
      await assertMarkers(src);
      assertEquals(mountsUnder(root), []);
      await assertRejects(() => Deno.stat(dir), Deno.errors.NotFound); // the sandbox dir is removed
    }
  } finally {
    stranger.kill("SIGKILL");
    await stranger.status;
    await umountQuiet(`${dir}/shared/c1/vol`);
    await Deno.remove(root, { recursive: true });
    await Deno.remove(src, { recursive: true });
  }
});

test("shim delete: a mount that cannot be unmounted stops the clean-up; data and state survive, the error names the mount", async () => {
  const root = await Deno.makeTempDir({ prefix: "rts-del-root-" });
  const src = await hostDirWithMarkers();
  const dir = `${root}/vm1`;
  const mp = `${dir}/shared/c1/vol`;
  let holder: Deno.ChildProcess | undefined;
  try {
    await bindMount(src, mp);
    holder = new Deno.Command("sleep", { args: ["120"], cwd: `${mp}/nested` }).spawn();
    await new StateStore({ root }).save({
      sandbox_id: "vm1",
      runtime: "virt_container",
      hypervisor: oldBuiltInVmmState(dir, 0),
      resources: { share_fs: { host_dir: `${dir}/shared` } },
    });
    const r = await shim(["-id", "vm1", "-bundle", root, "delete"], root, {
      KATA_PERSIST_ROOT: root,
    });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(fromBinary(DeleteResponseSchema, r.stdout).exitStatus, 137);
    assertStringIncludes(r.stderr, `${mp} is still mounted`);
    await assertMarkers(src);
    assert(await Deno.stat(`${dir}/state.json`).then(() => true, () => false), "state removed");
    assertEquals(mountsUnder(root), [mp]);
  } finally {
    holder?.kill("SIGKILL");
    await holder?.status;
    await umountQuiet(mp);
    await Deno.remove(root, { recursive: true });
    await Deno.remove(src, { recursive: true });
  }
});

test("shim delete: a corrupt or unknown-version state.json is reported; nothing is killed or removed", async () => {
  const root = await Deno.makeTempDir({ prefix: "rts-del-root-" });
  const src = await hostDirWithMarkers();
  const dir = `${root}/vm1`;
  const mp = `${dir}/shared/c1/vol`;
  const stranger = new Deno.Command("sleep", { args: ["120"] }).spawn();
  try {
    await bindMount(src, mp);
    const valid = JSON.stringify({
      version: 99,
      sandbox_id: "vm1",
      runtime: "virt_container",
      hypervisor: { ...oldBuiltInVmmState(dir, stranger.pid), pid_start: "1" },
    });
    for (const text of ["{not json", valid]) {
      await Deno.writeTextFile(`${dir}/state.json`, text);
      const r = await shim(["-id", "vm1", "-bundle", root, "delete"], root, {
        KATA_PERSIST_ROOT: root,
      });
      assertEquals(r.code, 0, r.stderr);
      assertEquals(fromBinary(DeleteResponseSchema, r.stdout).exitStatus, 137);
      assertStringIncludes(r.stderr, "state.json");
      assert(alive(stranger.pid), "a process the state cannot identify was killed");
      await assertMarkers(src);
      assertEquals(await Deno.readTextFile(`${dir}/state.json`), text, "the state is kept");
      assertEquals(mountsUnder(root), [mp], "the mount is left for an operator");
    }
  } finally {
    stranger.kill("SIGKILL");
    await stranger.status;
    await umountQuiet(mp);
    await Deno.remove(root, { recursive: true });
    await Deno.remove(src, { recursive: true });
  }
});

test("shim delete: kills a hung server proven by shim.pid, id, executable and start time; never a later process on that pid", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rts-del-hung-" });
  const id = "hung1";
  const script = `${dir}/hang.ts`;
  await Deno.writeTextFile(script, "setInterval(() => {}, 1000);\n");
  const spawn = () =>
    new Deno.Command(Deno.execPath(), { args: ["run", script, "-id", id, "-bundle", dir] })
      .spawn();
  const older = spawn();
  const hung = spawn();
  try {
    await new Promise((r) => setTimeout(r, 300));
    // A pid recorded before the process holding it now started: not the shim.
    await Deno.writeTextFile(`${dir}/shim.pid`, String(older.pid));
    const past = new Date(Date.now() - 3600_000);
    await Deno.utime(`${dir}/shim.pid`, past, past);
    const r1 = await shim(["-id", id, "-bundle", dir, "delete"], dir, {
      KATA_PERSIST_ROOT: `${dir}/run`,
    });
    assertEquals(r1.code, 0, r1.stderr);
    assert(alive(older.pid), "a process started after shim.pid was written was killed");
    // The server that wrote shim.pid after it started: killed.
    await Deno.writeTextFile(`${dir}/shim.pid`, String(hung.pid));
    const r2 = await shim(["-id", id, "-bundle", dir, "delete"], dir, {
      KATA_PERSIST_ROOT: `${dir}/run`,
    });
    assertEquals(r2.code, 0, r2.stderr);
    assertEquals((await hung.status).signal, "SIGKILL");
    // Another id in the command line: left alone.
    await Deno.writeTextFile(`${dir}/shim.pid`, String(older.pid));
    const r3 = await shim(["-id", "other", "-bundle", dir, "delete"], dir, {
      KATA_PERSIST_ROOT: `${dir}/run`,
    });
    assertEquals(r3.code, 0, r3.stderr);
    assert(alive(older.pid), "a server of another id was killed");
  } finally {
    for (const p of [older, hung]) {
      try {
        p.kill("SIGKILL");
      } catch { /* exited */ }
      await p.status;
    }
    await Deno.remove(dir, { recursive: true });
  }
});
