import { assert, assertEquals, assertRejects, assertThrows } from "../tests/assert.ts";
import { mount, unmount } from "../ffi/mount.ts";
import {
  mountsOfDevice,
  mountsUnder,
  removeTree,
  removeTreeSafely,
  unmountTree,
} from "./remove_tree.ts";
import { needs } from "../tests/tier.ts";

const isRoot = !needs({ root: true }).ignore;
const skip = isRoot ? "" : " (skipped: needs root for bind mounts)";

function dirs(): { root: string; src: string; done: () => void } {
  const root = Deno.makeTempDirSync({ prefix: "rmtree-" });
  const src = Deno.makeTempDirSync({ prefix: "rmtree-src-" });
  Deno.writeTextFileSync(`${src}/marker`, "precious");
  Deno.mkdirSync(`${src}/nested/deeper`, { recursive: true });
  Deno.writeTextFileSync(`${src}/nested/deeper/marker2`, "also precious");
  return {
    root,
    src,
    done: () => {
      for (const mp of mountsUnder(root)) {
        try {
          unmount(mp);
        } catch { /* best effort in the test's own clean-up */ }
      }
      Deno.removeSync(src, { recursive: true });
      if (mountsUnder(root).length === 0) {
        try {
          Deno.removeSync(root, { recursive: true });
        } catch { /* removed by the test */ }
      }
    },
  };
}

Deno.test("mountsUnder parses escaped mountinfo paths, deepest first, not siblings", () => {
  const info = [
    "36 35 98:0 / /a rw - ext4 /dev/x rw",
    "37 36 98:0 / /a/b\\040c rw - ext4 /dev/x rw",
    "38 36 98:0 / /ab rw - ext4 /dev/x rw",
  ].join("\n");
  assertEquals(mountsUnder("/a", info), ["/a/b c", "/a"]);
});

Deno.test({
  name: "removeTreeSafely unmounts nested and stacked bind mounts, deepest first, then removes" +
    skip,
  ignore: !isRoot,
  fn() {
    const t = dirs();
    try {
      Deno.mkdirSync(`${t.root}/shared/c1/rootfs`, { recursive: true });
      Deno.mkdirSync(`${t.root}/shared/c1/vol`, { recursive: true });
      Deno.writeTextFileSync(`${t.root}/state.json`, "{}");
      mount(t.src, `${t.root}/shared/c1/rootfs`, "", ["rbind"]);
      mount(`${t.src}/nested`, `${t.root}/shared/c1/rootfs/nested`, "", ["bind"]);
      mount(t.src, `${t.root}/shared/c1/vol`, "", ["bind"]);
      mount(t.src, `${t.root}/shared/c1/vol`, "", ["bind"]); // stacked twice
      assertEquals(mountsUnder(t.root).length, 3);
      removeTreeSafely(t.root);
      assertEquals(mountsUnder(t.root), []);
      assertThrows(() => Deno.statSync(t.root), Deno.errors.NotFound);
      assertEquals(Deno.readTextFileSync(`${t.src}/marker`), "precious");
      assertEquals(Deno.readTextFileSync(`${t.src}/nested/deeper/marker2`), "also precious");
    } finally {
      t.done();
    }
  },
});

Deno.test({
  name: "a mount that cannot be unmounted (a process's cwd inside): data survives, " +
    "nothing is removed and the error names the mount" + skip,
  ignore: !isRoot,
  async fn() {
    const t = dirs();
    const mp = `${t.root}/shared/c1/data`;
    Deno.mkdirSync(mp, { recursive: true });
    Deno.writeTextFileSync(`${t.root}/state.json`, "{}");
    mount(t.src, mp, "", ["bind"]);
    const holder = new Deno.Command("sleep", { args: ["60"], cwd: `${mp}/nested` }).spawn();
    try {
      const err = assertThrows(() => removeTreeSafely(t.root), Error);
      assert(err.message.includes(mp), err.message);
      assert(err.message.startsWith("Cannot remove"), err.message);
      assertEquals(mountsUnder(t.root), [mp], "the mount stays (no lazy detach)");
      assertEquals(Deno.readTextFileSync(`${mp}/marker`), "precious");
      assertEquals(Deno.readTextFileSync(`${t.src}/nested/deeper/marker2`), "also precious");
      assertEquals(Deno.readTextFileSync(`${t.root}/state.json`), "{}", "nothing was removed");
      await assertRejects(() => removeTree(t.root), Error, mp);
      assertThrows(() => unmountTree(t.root), Error, mp);
    } finally {
      holder.kill("SIGKILL");
      await holder.status;
      t.done();
    }
  },
});

Deno.test({
  name: "removeTreeSafely succeeds after the holder of a busy mount exits" + skip,
  ignore: !isRoot,
  async fn() {
    const t = dirs();
    const mp = `${t.root}/shared/data`;
    Deno.mkdirSync(mp, { recursive: true });
    mount(t.src, mp, "", ["bind"]);
    const holder = new Deno.Command("sleep", { args: ["60"], cwd: mp }).spawn();
    try {
      assertThrows(() => removeTreeSafely(t.root), Error, mp);
      holder.kill("SIGKILL");
      await holder.status;
      removeTreeSafely(t.root);
      assertThrows(() => Deno.statSync(t.root), Deno.errors.NotFound);
      assertEquals(Deno.readTextFileSync(`${t.src}/marker`), "precious");
    } finally {
      try {
        holder.kill("SIGKILL");
      } catch { /* exited */ }
      t.done();
    }
  },
});

Deno.test("removeTreeSafely: a missing directory is fine; a symlink is removed, not followed", () => {
  removeTreeSafely("/nonexistent/rmtree-test");
  const root = Deno.makeTempDirSync();
  const target = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${target}/keep`, "x");
    Deno.mkdirSync(`${root}/d`);
    Deno.symlinkSync(target, `${root}/d/link`);
    removeTreeSafely(root);
    assertThrows(() => Deno.statSync(root), Deno.errors.NotFound);
    assertEquals(Deno.readTextFileSync(`${target}/keep`), "x");
  } finally {
    Deno.removeSync(target, { recursive: true });
  }
});

Deno.test({
  name: "removeTreeSafely never crosses into another file system" + skip,
  ignore: !isRoot,
  fn() {
    // The root is itself a tmpfs mount with a bind mount below it: both go, the
    // bind source (on another device) keeps its files.
    const t = dirs();
    try {
      mount("tmpfs", t.root, "tmpfs", ["size=1m"]);
      Deno.mkdirSync(`${t.root}/x`);
      mount(t.src, `${t.root}/x`, "", ["bind"]);
      removeTreeSafely(t.root);
      assertEquals(mountsUnder(t.root), []);
      assertEquals(Deno.readTextFileSync(`${t.src}/marker`), "precious");
    } finally {
      t.done();
    }
  },
});

Deno.test("mountsOfDevice: the mount points of one device number, escapes decoded", () => {
  const info = "1 0 7:3 / /a rw - ext4 x rw\n2 0 7:30 / /b rw - ext4 y rw\n" +
    "3 0 7:3 / /with\\040space rw - ext4 x rw\n";
  assertEquals(mountsOfDevice("7:3", info), ["/a", "/with space"]);
  assertEquals(mountsOfDevice("8:1", info), []);
});
