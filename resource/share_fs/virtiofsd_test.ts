import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../../tests/assert.ts";
import { cacheArg, detectVirtiofsd, kindFromHelp, Virtiofsd, virtiofsdArgs } from "./virtiofsd.ts";
import { identify, isSameProcess } from "../../persist/process_identity.ts";
import { needs } from "../../tests/tier.ts";

/** Debian 12's C virtiofsd (qemu-system-common). */
const C_VIRTIOFSD = "/usr/lib/qemu/virtiofsd";
const haveC = !!(await Deno.stat(C_VIRTIOFSD).catch(() => null));
const isRoot = !needs({ root: true }).ignore;

Deno.test("the daemon kind comes from its --help", () => {
  assertEquals(kindFromHelp("  --shared-dir <shared-dir>  Shared directory path"), "rust");
  assertEquals(kindFromHelp("    -o source=PATH             shared directory tree"), "c");
  assertEquals(kindFromHelp("usage: something else"), null);
});

Deno.test("virtio_fs_cache maps to each daemon's words", () => {
  assertEquals(cacheArg("c", "never"), "none");
  assertEquals(cacheArg("c", "none"), "none");
  assertEquals(cacheArg("c", "auto"), "auto");
  assertEquals(cacheArg("c", "always"), "always");
  assertEquals(cacheArg("rust", "never"), "never");
  assertEquals(cacheArg("rust", ""), "never");
  assertEquals(cacheArg("rust", "metadata"), "metadata");
  assertThrows(() => cacheArg("c", "metadata"), Error, '"metadata"');
  assertThrows(() => cacheArg("rust", "sometimes"), Error, '"sometimes"');
});

Deno.test("each daemon gets arguments in its own syntax, extra args last and unchanged", () => {
  const a = {
    socketPath: "/run/kata/sb/virtiofsd.sock",
    sharedDir: "/run/kata/sb/shared",
    cache: "never",
    extraArgs: ["--thread-pool-size=1", "-o", "announce_submounts"],
  };
  assertEquals(virtiofsdArgs("rust", a), [
    "--socket-path=/run/kata/sb/virtiofsd.sock",
    "--shared-dir=/run/kata/sb/shared",
    "--cache=never",
    "--sandbox=none",
    "--thread-pool-size=1",
    "-o",
    "announce_submounts",
  ]);
  assertEquals(virtiofsdArgs("c", a), [
    "--socket-path=/run/kata/sb/virtiofsd.sock",
    "-o",
    "source=/run/kata/sb/shared",
    "-o",
    "cache=none",
    "-o",
    "sandbox=chroot",
    "--thread-pool-size=1",
    "-o",
    "announce_submounts",
  ]);
});

Deno.test("a missing or non-executable daemon is an error naming it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assertRejects(
      () => detectVirtiofsd(`${dir}/nope`),
      Error,
      `${dir}/nope (virtio_fs_daemon) does not exist`,
    );
    await Deno.writeTextFile(`${dir}/plain`, "");
    await assertRejects(() => detectVirtiofsd(`${dir}/plain`), Error, "not an executable");
    await assertRejects(() => detectVirtiofsd("/bin/true"), Error, "not a known virtiofsd");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "Debian's C virtiofsd: detected, started with its own options, socket up, stopped",
  ignore: !haveC || !isRoot,
  async fn() {
    assertEquals(await detectVirtiofsd(C_VIRTIOFSD), "c");
    const dir = await Deno.makeTempDir();
    try {
      await Deno.mkdir(`${dir}/shared`);
      const d = await Virtiofsd.start(C_VIRTIOFSD, {
        socketPath: `${dir}/vfs.sock`,
        sharedDir: `${dir}/shared`,
        cache: "auto",
        extraArgs: ["--thread-pool-size=1", "-o", "announce_submounts"],
      });
      assert((await Deno.stat(`${dir}/vfs.sock`)).isSocket, "socket created");
      const id = d.identity!;
      assertEquals(id.pid, d.pid);
      assertEquals(id.exe, C_VIRTIOFSD);
      const rec = { pid: id.pid, start_time: id.startTime, exe: id.exe };
      assert(isSameProcess(rec), "identity matches the running daemon");
      const cmdline = (await Deno.readTextFile(`/proc/${d.pid}/cmdline`)).split("\0");
      assert(cmdline.includes(`source=${dir}/shared`), cmdline.join(" "));
      await d.stop();
      assert(d.exited);
      assertEquals(identify(d.pid), null, "daemon gone");
      assert(!isSameProcess(rec));
      await assertRejects(() => Deno.stat(`${dir}/vfs.sock`), Deno.errors.NotFound);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "the C virtiofsd refusing its options fails start with its own words",
  ignore: !haveC || !isRoot,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const e = await assertRejects(() =>
        Virtiofsd.start(C_VIRTIOFSD, {
          socketPath: `${dir}/vfs.sock`,
          sharedDir: `${dir}/missing-dir`,
          cache: "auto",
          extraArgs: ["--no-such-option"],
        })
      );
      assertStringIncludes(e.message, C_VIRTIOFSD);
      assertStringIncludes(e.message, "exited");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
