import { assertEquals, assertThrows } from "../../../../tests/assert.ts";
import { InvalidArgumentError } from "../../../../common/errors.ts";
import { GuestMemory } from "../../memory.ts";
import type { ActivateContext, VirtioDevice } from "./device.ts";
import { VirtioMmioTransport } from "./mmio.ts";

class FakeDevice implements VirtioDevice {
  deviceType = 2;
  features = 1n << 5n;
  queueMaxSizes = [8];
  activated?: ActivateContext;
  notified: number[] = [];
  resets = 0;
  readConfig(offset: number, data: Uint8Array) {
    data.fill(offset + 1);
  }
  writeConfig() {}
  activate(ctx: ActivateContext) {
    this.activated = ctx;
  }
  notify(i: number) {
    this.notified.push(i);
  }
  reset() {
    this.resets++;
  }
  close() {}
  state: unknown = { n: 1 };
  restored: unknown[] = [];
  afterRestores = 0;
  saveState() {
    return { saved: this.state };
  }
  restoreState(s: unknown) {
    this.restored.push(s);
  }
  afterRestore() {
    this.afterRestores++;
  }
}

function rw(t: VirtioMmioTransport) {
  const read = (off: number) => {
    const b = new Uint8Array(4);
    t.read(off, b);
    return new DataView(b.buffer).getUint32(0, true);
  };
  const write = (off: number, v: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    t.write(off, b);
  };
  return { read, write };
}

Deno.test("virtio-mmio: identification, features, queue set-up and activation", () => {
  const dev = new FakeDevice();
  const mem = GuestMemory.fromBuffers([[0, 0x100000]]);
  let irqs = 0;
  const t = new VirtioMmioTransport(dev, mem, { trigger: () => irqs++ });
  const { read, write } = rw(t);
  assertEquals(read(0x000), 0x74726976);
  assertEquals(read(0x004), 2);
  assertEquals(read(0x008), 2);
  assertEquals(read(0x010), 1 << 5);
  write(0x014, 1);
  assertEquals(read(0x010), 1); // VERSION_1 in the high word
  write(0x070, 1 | 2);
  write(0x024, 0);
  write(0x020, 1 << 5);
  write(0x024, 1);
  write(0x020, 1);
  write(0x070, 1 | 2 | 8);
  assertEquals(read(0x070) & 8, 8); // FEATURES_OK accepted
  write(0x030, 0);
  assertEquals(read(0x034), 8);
  write(0x038, 8);
  write(0x080, 0x1000);
  write(0x090, 0x2000);
  write(0x0a0, 0x3000);
  write(0x044, 1);
  write(0x070, 1 | 2 | 8 | 4);
  assertEquals(dev.activated?.features, (1n << 32n) | (1n << 5n));
  assertEquals(dev.activated?.queues[0].descTable, 0x1000);
  write(0x050, 0);
  write(0x050, 7); // no such queue: ignored
  assertEquals(dev.notified, [0]);
  dev.activated!.signalUsed();
  assertEquals([irqs, read(0x060)], [1, 1]);
  write(0x064, 1);
  assertEquals(read(0x060), 0);
  const cfg = new Uint8Array(1);
  t.read(0x104, cfg);
  assertEquals(cfg[0], 5);
  write(0x070, 0);
  assertEquals([dev.resets, read(0x070)], [1, 0]);
});

Deno.test("virtio-mmio: features never offered keep FEATURES_OK clear", () => {
  const dev = new FakeDevice();
  const t = new VirtioMmioTransport(dev, GuestMemory.fromBuffers([[0, 0x10000]]), { trigger() {} });
  const { read, write } = rw(t);
  write(0x024, 0);
  write(0x020, 1 << 7); // not offered
  write(0x024, 1);
  write(0x020, 1);
  write(0x070, 1 | 2 | 8);
  assertEquals(read(0x070) & 8, 0);
});

Deno.test("virtio-mmio: a queue outside guest memory is not activated", () => {
  const dev = new FakeDevice();
  const t = new VirtioMmioTransport(dev, GuestMemory.fromBuffers([[0, 0x10000]]), { trigger() {} });
  const { read, write } = rw(t);
  write(0x024, 1);
  write(0x020, 1);
  write(0x070, 1 | 2 | 8);
  write(0x038, 8);
  write(0x080, 0xfff0);
  write(0x084, 0x1); // above 4 GiB
  write(0x044, 1);
  write(0x070, 1 | 2 | 8 | 4);
  assertEquals(dev.activated, undefined);
  assertEquals(read(0x070) & 0x40, 0x40); // DEVICE_NEEDS_RESET
});

Deno.test("virtio-mmio: narrow register reads get the low bytes instead of failing", () => {
  const t = new VirtioMmioTransport(new FakeDevice(), GuestMemory.fromBuffers([[0, 0x1000]]), {
    trigger() {},
  });
  const b = new Uint8Array(1);
  t.read(0x000, b);
  assertEquals(b[0], 0x76); // "v" of "virt"
});

Deno.test("virtio-mmio: a configuration change bumps the generation; the interrupt only once the driver is up", () => {
  let signal: (() => void) | undefined;
  const dev = Object.assign(new FakeDevice(), {
    bindConfigChange: (s: () => void) => (signal = s),
  });
  let irqs = 0;
  const t = new VirtioMmioTransport(dev, GuestMemory.fromBuffers([[0, 0x100000]]), {
    trigger: () => irqs++,
  });
  const { read, write } = rw(t);
  assertEquals(read(0x0fc), 0);
  signal!();
  assertEquals([read(0x0fc), irqs, read(0x060)], [1, 0, 0], "before DRIVER_OK: no interrupt");
  write(0x070, 1 | 2 | 4);
  signal!();
  assertEquals([read(0x0fc), irqs, read(0x060)], [2, 1, 2], "config-change interrupt bit");
  write(0x064, 2);
  assertEquals(read(0x060), 0);
});

Deno.test("virtio-mmio: shared memory regions read as absent (all ones), as Linux's virtio-fs expects", () => {
  const t = new VirtioMmioTransport(new FakeDevice(), GuestMemory.fromBuffers([[0, 0x1000]]), {
    trigger() {},
  });
  const { read, write } = rw(t);
  write(0x0ac, 0); // SHMSel: the DAX cache region's id
  for (const reg of [0x0b0, 0x0b4, 0x0b8, 0x0bc]) assertEquals(read(reg), 0xffffffff);
});

/** Brings a transport's device up with queue 0 at 0x1000/0x2000/0x3000 of size 8. */
function bringUp(t: VirtioMmioTransport): void {
  const { write } = rw(t);
  const steps: [number, number][] = [
    [0x024, 1], // driver features, high word: VERSION_1
    [0x020, 1],
    [0x070, 1 | 2 | 8], // FEATURES_OK
    [0x030, 0], // queue 0: size 8, rings at 0x1000, 0x2000, 0x3000, ready
    [0x038, 8],
    [0x080, 0x1000],
    [0x090, 0x2000],
    [0x0a0, 0x3000],
    [0x044, 1],
    [0x070, 1 | 2 | 8 | 4], // DRIVER_OK
  ];
  for (const [reg, value] of steps) write(reg, value);
}

Deno.test("virtio-mmio: saved state round-trips through JSON and reactivates the device", () => {
  const mem = GuestMemory.fromBuffers([[0, 0x100000]]);
  const dev = new FakeDevice();
  const t = new VirtioMmioTransport(dev, mem, { trigger() {} });
  bringUp(t);
  dev.activated!.signalUsed();
  const saved = JSON.parse(JSON.stringify(t.saveState()));
  assertEquals(saved.device, { saved: { n: 1 } });

  const dev2 = new FakeDevice();
  const t2 = new VirtioMmioTransport(dev2, mem, { trigger() {} });
  t2.restoreState(saved);
  assertEquals(dev2.restored, [{ saved: { n: 1 } }]);
  assertEquals(dev2.afterRestores, 0, "not before the vCPUs are restored");
  t2.resumeAfterRestore();
  assertEquals(dev2.afterRestores, 1);
  assertEquals(dev2.activated?.queues[0].saveState(), dev.activated!.queues[0].saveState());
  assertEquals(dev2.activated?.features, 1n << 32n);
  assertEquals(JSON.parse(JSON.stringify(t2.saveState())), saved);
  const { read } = rw(t2);
  assertEquals([read(0x070), read(0x060)], [1 | 2 | 8 | 4, 1]);
});

Deno.test("virtio-mmio: a saved state of another device or malformed is refused by name", () => {
  const mem = GuestMemory.fromBuffers([[0, 0x100000]]);
  const t = new VirtioMmioTransport(new FakeDevice(), mem, { trigger() {} });
  bringUp(t);
  const saved = t.saveState();
  const other = Object.assign(new FakeDevice(), { deviceType: 1 });
  const e = assertThrows(
    () => new VirtioMmioTransport(other, mem, { trigger() {} }).restoreState(saved),
    InvalidArgumentError,
  );
  assertEquals(
    e.message,
    "Saved virtio device 2 with 1 queues does not match virtio device 1 with 1 queues",
  );
  const bad = { ...saved, queues: "x" };
  const e2 = assertThrows(
    () => new VirtioMmioTransport(new FakeDevice(), mem, { trigger() {} }).restoreState(bad),
    InvalidArgumentError,
  );
  assertEquals(
    e2.message.startsWith("Saved state of virtio device 2 is malformed at queues"),
    true,
  );
  const outside = GuestMemory.fromBuffers([[0, 0x2000]]);
  assertThrows(
    () => new VirtioMmioTransport(new FakeDevice(), outside, { trigger() {} }).restoreState(saved),
    InvalidArgumentError,
    "queue 0 outside guest memory",
  );
});
