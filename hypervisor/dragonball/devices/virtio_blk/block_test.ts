import { assert, assertEquals, assertThrows } from "../../../../tests/assert.ts";
import { InvalidArgumentError } from "../../../../common/errors.ts";
import { TestDriver } from "../virtio/driver_testing.ts";
import { unmetNeeds } from "../../../../tests/tier.ts";
import { VIRTIO_BLK_F_RO, VirtioBlock } from "./block.ts";

const HDR = 0x10000, DATA = 0x20000, STATUS = 0x30000;

function setup(readOnly: boolean) {
  const path = Deno.makeTempFileSync({ prefix: "vblk-" });
  const disk = new Uint8Array(8 * 512);
  disk.set(new TextEncoder().encode("sector-one"), 512);
  Deno.writeFileSync(path, disk);
  const dev = VirtioBlock.open(path, { readOnly, id: "disk-7" });
  const d = new TestDriver();
  dev.activate(d.context());
  const request = (type: number, sector: number, data: { len: number; write: boolean }[]) => {
    d.memory.setU32(HDR, type);
    d.memory.setU64(HDR + 8, sector);
    d.memory.setU8(STATUS, 0xff);
    d.addChain([
      { addr: HDR, len: 16 },
      ...data.map((b, i) => ({ addr: DATA + i * 0x1000, len: b.len, write: b.write })),
      { addr: STATUS, len: 1, write: true },
    ]);
    dev.notify(0);
    return d.memory.u8(STATUS);
  };
  return { path, dev, d, request, signals: () => d.signals };
}

Deno.test("virtio-blk reads sectors into guest buffers and reports its size", () => {
  const t = setup(true);
  try {
    assertEquals(t.dev.sectors, 8);
    const cfg = new Uint8Array(8);
    t.dev.readConfig(0, cfg);
    assertEquals(new DataView(cfg.buffer).getBigUint64(0, true), 8n);
    assertEquals(t.request(0, 1, [{ len: 512, write: true }]), 0);
    assertEquals(new TextDecoder().decode(t.d.memory.read(DATA, 10)), "sector-one");
    assertEquals(t.d.used(0).len, 513);
    assertEquals(t.signals(), 1);
  } finally {
    t.dev.close();
    Deno.removeSync(t.path);
  }
});

Deno.test("virtio-blk writes and flushes on a read-write disk", () => {
  const t = setup(false);
  try {
    t.d.memory.write(DATA, new TextEncoder().encode("written!"));
    assertEquals(t.request(1, 3, [{ len: 512, write: false }]), 0);
    assertEquals(t.request(4, 0, []), 0);
    const file = Deno.readFileSync(t.path);
    assertEquals(new TextDecoder().decode(file.subarray(3 * 512, 3 * 512 + 8)), "written!");
  } finally {
    t.dev.close();
    Deno.removeSync(t.path);
  }
});

Deno.test("virtio-blk refuses writes to a read-only disk and out-of-range sectors", () => {
  const t = setup(true);
  try {
    assertEquals(t.request(1, 0, [{ len: 512, write: false }]), 1);
    assertEquals(t.request(0, 8, [{ len: 512, write: true }]), 1); // past the end
    assertEquals(t.request(0, 0, [{ len: 100, write: true }]), 1); // not whole sectors
    assertEquals(t.request(0, 0, [{ len: 512, write: false }]), 1); // read into a read-only buffer
    assertEquals(t.request(99, 0, []), 2); // unsupported type
  } finally {
    t.dev.close();
    Deno.removeSync(t.path);
  }
});

Deno.test("virtio-blk returns the device id and survives chains without a status byte", () => {
  const t = setup(true);
  try {
    assertEquals(t.request(8, 0, [{ len: 20, write: true }]), 0);
    assertEquals(new TextDecoder().decode(t.d.memory.read(DATA, 6)), "disk-7");
    // A lone readable descriptor: no place for a status; completed with length 0.
    t.d.addChain([{ addr: HDR, len: 16 }]);
    t.dev.notify(0);
    assertEquals(t.d.usedIdx, 2);
    assertEquals(t.d.used(1).len, 0);
  } finally {
    t.dev.close();
    Deno.removeSync(t.path);
  }
});

/** A driver around any block device (the placeholder tests' own files). */
function driverFor(dev: VirtioBlock) {
  const d = new TestDriver();
  dev.activate(d.context());
  const request = (type: number, sector: number, data: { len: number; write: boolean }[]) => {
    d.memory.setU32(HDR, type);
    d.memory.setU64(HDR + 8, sector);
    d.memory.setU8(STATUS, 0xff);
    d.addChain([
      { addr: HDR, len: 16 },
      ...data.map((b, i) => ({ addr: DATA + i * 0x1000, len: b.len, write: b.write })),
      { addr: STATUS, len: 1, write: true },
    ]);
    dev.notify(0);
    return d.memory.u8(STATUS);
  };
  const capacity = () => {
    const cfg = new Uint8Array(8);
    dev.readConfig(0, cfg);
    return new DataView(cfg.buffer).getBigUint64(0, true);
  };
  return { d, request, capacity };
}

Deno.test("virtio-blk placeholder: empty, then attach (config change, I/O), detach, attach again", () => {
  const dir = Deno.makeTempDirSync();
  const dev = VirtioBlock.placeholder("slot-1");
  try {
    Deno.writeFileSync(`${dir}/a.img`, new Uint8Array(16 * 512));
    const b = new Uint8Array(4 * 512);
    b.set(new TextEncoder().encode("disk-b"), 0);
    Deno.writeFileSync(`${dir}/b.img`, b);
    let changes = 0;
    dev.bindConfigChange(() => changes++);
    const t = driverFor(dev);
    assertEquals([dev.attached, t.capacity()], [false, 0n]);
    assert(!(dev.features & (1n << VIRTIO_BLK_F_RO)), "a slot never offers read-only");
    assertEquals(t.request(0, 0, [{ len: 512, write: true }]), 1, "no backing: I/O error");

    dev.attachBacking(`${dir}/a.img`, { id: "vol-a" });
    assertEquals([changes, t.capacity()], [1, 16n]);
    t.d.memory.write(DATA, new TextEncoder().encode("hello slot"));
    assertEquals(t.request(1, 2, [{ len: 512, write: false }]), 0);
    assertEquals(t.request(4, 0, []), 0);
    const a = Deno.readFileSync(`${dir}/a.img`);
    assertEquals(new TextDecoder().decode(a.subarray(1024, 1034)), "hello slot");
    assertEquals(t.request(8, 0, [{ len: 20, write: true }]), 0);
    assertEquals(new TextDecoder().decode(t.d.memory.read(DATA, 5)), "vol-a");
    assertThrows(() => dev.attachBacking(`${dir}/b.img`), Error, "has a backing file");

    dev.detachBacking();
    assertEquals([changes, t.capacity(), dev.attached], [2, 0n, false]);
    assertEquals(t.request(0, 0, [{ len: 512, write: true }]), 1, "detached: I/O error");
    dev.detachBacking(); // nothing attached: no change
    assertEquals(changes, 2);

    dev.attachBacking(`${dir}/b.img`, { readOnly: true, id: "vol-b" });
    assertEquals([changes, t.capacity()], [3, 4n]);
    assertEquals(t.request(0, 0, [{ len: 512, write: true }]), 0);
    assertEquals(new TextDecoder().decode(t.d.memory.read(DATA, 6)), "disk-b");
    assertEquals(t.request(1, 0, [{ len: 512, write: false }]), 1, "read-only backing");
  } finally {
    dev.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

/**
 * Why no loop device can be had here, or undefined: root, losetup and
 * /dev/loop-control are not enough in a container that has no free loop
 * device, so `losetup --find` (which attaches nothing) is asked first and the
 * test is ignored, with the reason, instead of passing unchecked.
 */
async function noLoopDevice(): Promise<string | undefined> {
  const unmet = unmetNeeds({ root: true, peers: ["losetup"], paths: ["/dev/loop-control"] });
  if (unmet) return unmet;
  const out = await new Deno.Command("losetup", { args: ["--find"] }).output();
  if (out.success) return undefined;
  return `losetup --find failed: ${new TextDecoder().decode(out.stderr).trim()}`;
}

const NO_LOOP = await noLoopDevice();
if (NO_LOOP) console.warn(`Ignored here (${NO_LOOP}): the loop-device test of block_test.ts`);

Deno.test({
  name: "virtio-blk sizes a block device backing (stat says 0) from its end: a loop device",
  ignore: NO_LOOP !== undefined,
  async fn() {
    const img = Deno.makeTempFileSync({ prefix: "vblk-loop-" });
    Deno.truncateSync(img, 4 << 20);
    const out = await new Deno.Command("losetup", { args: ["--find", "--show", img] }).output();
    const loop = new TextDecoder().decode(out.stdout).trim();
    try {
      assert(
        out.success && loop.startsWith("/dev/loop"),
        `losetup failed: ${new TextDecoder().decode(out.stderr)}`,
      );
      const opened = VirtioBlock.open(loop, { readOnly: true });
      assertEquals(opened.sectors, 8192);
      opened.close();
      const slot = VirtioBlock.placeholder("slot-0");
      slot.attachBacking(loop, { readOnly: true });
      assertEquals(slot.sectors, 8192);
      slot.close();
    } finally {
      if (loop.startsWith("/dev/loop")) {
        await new Deno.Command("losetup", { args: ["-d", loop] }).output();
      }
      Deno.removeSync(img);
    }
  },
});

Deno.test("virtio-blk: the saved disk round-trips; another capacity or an empty slot is refused", () => {
  const t = setup(true);
  try {
    const saved = JSON.parse(JSON.stringify(t.dev.saveState()));
    assertEquals(saved, { sectors: 8, readOnly: true, attached: true });
    const same = VirtioBlock.open(t.path, { readOnly: true });
    same.restoreState(saved);
    same.close();
    const e = assertThrows(
      () => VirtioBlock.placeholder("slot1").restoreState(saved),
      InvalidArgumentError,
    );
    assertEquals(
      e.message,
      "Saved virtio-blk disk (8 sectors, read-only) does not match this one (an empty slot)",
    );
    const slot = VirtioBlock.placeholder("slot2");
    slot.restoreState(JSON.parse(JSON.stringify(slot.saveState())));
  } finally {
    t.dev.close();
    Deno.removeSync(t.path);
  }
});
