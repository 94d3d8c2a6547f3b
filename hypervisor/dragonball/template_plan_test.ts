import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { FailedPreconditionError } from "../../common/errors.ts";
import type { Device } from "../device.ts";
import { newMemoryFileName, readSnapshot, writeSnapshot } from "./snapshot/saved_form.ts";
import { TemplatePlanner } from "./template_plan.ts";
import { templateFingerprint, templateLayout } from "./template.ts";

const share: Device = {
  kind: "share_fs",
  fsType: "virtio-9p",
  mountTag: "kataShared",
  hostPath: "/run/kata/p1/shared",
};
const nic: Device = {
  kind: "network",
  tapName: "tap0_kata",
  guestMac: "02:00:00:00:00:09",
  queues: 1,
};
const vsock = { udsPath: "/run/kata/p1/kata.hvsock", guestCid: 3 };

async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "tmplplan-" });
  const kernel = `${dir}/vmlinux`;
  await Deno.writeTextFile(kernel, "kernel");
  const o = { kernel, initrd: "", image: "", vcpus: 1, memoryMib: 1, templatePath: `${dir}/t` };
  return { dir, kernel, o, planner: new TemplatePlanner(o, 4, "console=ttyS0") };
}

Deno.test("template layout: the pod's share and NIC take the template's places; misfits are named", () => {
  const l = templateLayout("/img", [share, nic], vsock, "/t/share", "/var/run/netns/p1", 4);
  if ("misfit" in l) throw new Error(l.misfit);
  assertEquals(l.specs.map((s) => s.kind), ["block", "9p", "net", "vsock"]);
  assertEquals(l.describe, "blk(image) blk(slot)x4 9p(kataShared) net vsock(3)");
  const empty = templateLayout("", [], vsock, "/t/share", "", 4);
  if ("misfit" in empty) throw new Error(empty.misfit);
  assertEquals(empty.specs[0], { kind: "9p", tag: "kataShared", dir: "/t/share" });
  assertEquals(empty.specs[1], { kind: "net-slot", mac: "02:00:00:00:7e:01" });
  const disk: Device = { kind: "block", path: "/d", readOnly: false } as Device;
  assertEquals(templateLayout("", [disk], vsock, "", "", 4), {
    misfit: "it has cold-plugged block devices",
  });
  assertEquals(templateLayout("", [nic, nic], vsock, "", "", 4), {
    misfit: "it has 2 NICs (a template has one)",
  });
});

Deno.test("template plan: off is cold; build needs templating; no or another template is cold; a match restores", async () => {
  const t = await setup();
  try {
    const req = { id: "p1", build: false, devices: [share, nic], vsock, netns: "" };
    assertEquals(new TemplatePlanner({ ...t.o, templatePath: "" }, 4, "").plan(req).kind, "cold");
    assertThrows(
      () => new TemplatePlanner({ ...t.o, templatePath: "" }, 4, "").plan({ ...req, build: true }),
      FailedPreconditionError,
      "enable_template is off",
    );
    assertEquals(t.planner.plan(req).kind, "cold", "no template yet");

    const build = t.planner.plan({ ...req, devices: [], build: true });
    if (build.kind !== "build") throw new Error(build.kind);
    assertEquals(build.memoryFile, { path: `${t.o.templatePath}/memory.building`, mode: "shared" });
    await Deno.writeFile(build.memoryFile.path, new Uint8Array(1 << 20));
    await build.commit({ fake: "machine" } as never);
    const saved = readSnapshot(t.o.templatePath);
    const plan = t.planner.plan(req);
    if (plan.kind !== "restore") throw new Error(plan.kind);
    assertEquals(plan.memoryFile, { path: saved.memoryPath, mode: "private" });
    assertEquals(plan.machine, { fake: "machine" });
    assertEquals(plan.specs.find((s) => s.kind === "net"), {
      kind: "net",
      tap: "tap0_kata",
      netns: "",
      mac: "02:00:00:00:00:09",
    });

    // Another vCPU count: the template is not used.
    const two = new TemplatePlanner({ ...t.o, vcpus: 2 }, 4, "console=ttyS0");
    assertEquals(two.plan(req).kind, "cold");
    // The kernel rewritten: its identity changed.
    await Deno.writeTextFile(t.kernel, "another kernel");
    assertEquals(t.planner.plan(req).kind, "cold");
  } finally {
    await Deno.remove(t.dir, { recursive: true });
  }
});

Deno.test("template plan: a new build replaces the memory file by rename and removes the old one", async () => {
  const t = await setup();
  try {
    const dir = t.o.templatePath;
    await Deno.mkdir(dir, { recursive: true });
    const old = newMemoryFileName();
    await Deno.writeFile(`${dir}/${old}`, new Uint8Array(1 << 20));
    const layout = templateLayout("", [], vsock, "", "", 4);
    if ("misfit" in layout) throw new Error(layout.misfit);
    await writeSnapshot(dir, {
      fingerprint: templateFingerprint({ ...t.o, cmdline: "" }, layout),
      memoryBytes: 1 << 20,
      memoryFile: old,
      machine: {},
    });
    const build = t.planner.plan({ id: "t", build: true, devices: [], vsock, netns: "" });
    if (build.kind !== "build") throw new Error(build.kind);
    await Deno.writeFile(build.memoryFile.path, new Uint8Array(1 << 20));
    await build.commit({} as never);
    const now = readSnapshot(dir);
    assertEquals(now.memoryFile === old, false);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(names, [now.memoryFile, "share", "state.json"].sort());
  } finally {
    await Deno.remove(t.dir, { recursive: true });
  }
});
