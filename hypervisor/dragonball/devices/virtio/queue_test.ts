import { assert, assertEquals, assertThrows } from "../../../../tests/assert.ts";
import { GuestMemory } from "../../memory.ts";
import { Queue, readFromChain, VirtqueueError, writeToChain } from "./queue.ts";
import { TestDriver } from "./driver_testing.ts";

Deno.test("queue pops a well-formed chain with its buffers", () => {
  const d = new TestDriver();
  const head = d.addChain([{ addr: 0x10000, len: 16 }, { addr: 0x11000, len: 512, write: true }]);
  const c = d.queue.pop(d.memory)!;
  assertEquals(c.head, head);
  assertEquals(c.error, undefined);
  assertEquals(c.descriptors, [
    { addr: 0x10000, len: 16, writable: false },
    { addr: 0x11000, len: 512, writable: true },
  ]);
  assertEquals(d.queue.pop(d.memory), undefined);
});

Deno.test("queue returns used buffers through the used ring", () => {
  const d = new TestDriver();
  const head = d.addChain([{ addr: 0x10000, len: 8, write: true }]);
  d.queue.pop(d.memory);
  d.queue.addUsed(d.memory, head, 8);
  assertEquals(d.usedIdx, 1);
  assertEquals(d.used(0), { id: head, len: 8 });
});

Deno.test("queue rejects a descriptor index beyond the queue size", () => {
  const d = new TestDriver(8);
  d.setDescriptor(0, 0x10000, 16, 1, 200); // next points outside the table
  d.publish(0);
  const c = d.queue.pop(d.memory)!;
  assert(c.error instanceof VirtqueueError);
  assertEquals(c.head, 0);
});

Deno.test("queue rejects a head index beyond the queue size and keeps going", () => {
  const d = new TestDriver(8);
  d.publish(9);
  const bad = d.queue.pop(d.memory)!;
  assert(bad.error instanceof VirtqueueError);
  d.queue.addUsed(d.memory, bad.head, 0); // ignored: not a real head
  assertEquals(d.usedIdx, 0);
  d.addChain([{ addr: 0x10000, len: 4 }]);
  assertEquals(d.queue.pop(d.memory)?.error, undefined);
});

Deno.test("queue detects a descriptor loop", () => {
  const d = new TestDriver(8);
  d.setDescriptor(0, 0x10000, 16, 1, 1);
  d.setDescriptor(1, 0x10000, 16, 1, 0);
  d.publish(0);
  const c = d.queue.pop(d.memory)!;
  assert(c.error instanceof VirtqueueError);
  assert(c.error.message.includes("loops"));
});

Deno.test("queue rejects buffers outside guest memory, including address overflow", () => {
  const d = new TestDriver(8);
  d.setDescriptor(0, 0xff000, 0x2000, 0, 0); // runs past the 1 MiB end
  d.publish(0);
  assert(d.queue.pop(d.memory)!.error instanceof VirtqueueError);
  d.memory.setU64(0x1000 + 16, 0xffff_ffff_ffff_f000n); // huge address
  d.memory.setU32(0x1000 + 24, 0x2000);
  d.memory.setU16(0x1000 + 28, 0);
  d.publish(1);
  assert(d.queue.pop(d.memory)!.error instanceof VirtqueueError);
});

Deno.test("queue refuses indirect descriptors it did not offer", () => {
  const d = new TestDriver(8);
  d.setDescriptor(0, 0x10000, 32, 4, 0);
  d.publish(0);
  assert(d.queue.pop(d.memory)!.error instanceof VirtqueueError);
});

Deno.test("queue refuses an available index running ahead of the ring", () => {
  const d = new TestDriver(8);
  d.memory.setU16(0x2002, 100);
  assertThrows(() => d.queue.pop(d.memory), VirtqueueError);
});

Deno.test("queue set-up outside guest memory is invalid", () => {
  const mem = GuestMemory.fromBuffers([[0, 0x10000]]);
  const q = new Queue(256);
  q.ready = true;
  q.descTable = 0xf800; // 256 descriptors need 4 KiB: past the end
  q.availRing = 0x2000;
  q.usedRing = 0x3000;
  assertEquals(q.isValid(mem), false);
  q.descTable = 0x1000;
  assertEquals(q.isValid(mem), true);
  q.size = 100; // not a power of two
  assertEquals(q.isValid(mem), false);
});

Deno.test("chain helpers copy across readable and writable buffers", () => {
  const d = new TestDriver();
  d.memory.write(0x10000, new Uint8Array([1, 2, 3]));
  d.memory.write(0x10100, new Uint8Array([4, 5]));
  const descs = [
    { addr: 0x10000, len: 3, writable: false },
    { addr: 0x10100, len: 2, writable: false },
    { addr: 0x20000, len: 2, writable: true },
    { addr: 0x20100, len: 4, writable: true },
  ];
  assertEquals([...readFromChain(d.memory, descs)], [1, 2, 3, 4, 5]);
  assertEquals(writeToChain(d.memory, descs, new Uint8Array([9, 8, 7])), 3);
  assertEquals([...d.memory.read(0x20000, 2)], [9, 8]);
  assertEquals([...d.memory.read(0x20100, 1)], [7]);
});
