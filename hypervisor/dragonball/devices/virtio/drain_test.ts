import { assertEquals } from "../../../../tests/assert.ts";
import { drainQueue, writableRoom } from "./drain.ts";
import { TestDriver } from "./driver_testing.ts";

function setup() {
  const d = new TestDriver();
  return { d, ctx: d.context(), signals: () => d.signals };
}

Deno.test("drainQueue serves every chain, returns each with its length and signals once", () => {
  const t = setup();
  t.d.addChain([{ addr: 0x10000, len: 8 }, { addr: 0x11000, len: 64, write: true }]);
  t.d.addChain([{ addr: 0x12000, len: 32, write: true }]);
  const rooms: number[] = [];
  const ranOut = drainQueue(t.ctx, 0, (descs) => {
    rooms.push(writableRoom(descs));
    return rooms.length * 10;
  });
  assertEquals(ranOut, true);
  assertEquals(rooms, [64, 32]);
  assertEquals(t.d.usedIdx, 2);
  assertEquals(t.d.used(0), { id: 0, len: 10 });
  assertEquals(t.d.used(1), { id: 2, len: 20 });
  assertEquals(t.signals(), 1);
  assertEquals(drainQueue(t.ctx, 0, () => 1), true);
  assertEquals(t.signals(), 1, "an empty ring raises no interrupt");
});

Deno.test("drainQueue returns a malformed chain unused without serving it", () => {
  const t = setup();
  t.d.setDescriptor(0, 0x10000, 16, 4, 0); // indirect: not negotiated
  t.d.publish(0);
  const errors: string[] = [];
  let served = 0;
  drainQueue(t.ctx, 0, () => ++served, { onError: (e) => errors.push(e.message) });
  assertEquals(served, 0);
  assertEquals(errors, ["Indirect descriptors were not negotiated"]);
  assertEquals(t.d.used(0), { id: 0, len: 0 });
  assertEquals(t.signals(), 1);
});

Deno.test("drainQueue stops when told and says whether the ring ran out", () => {
  const t = setup();
  t.d.addChain([{ addr: 0x10000, len: 8, write: true }]);
  t.d.addChain([{ addr: 0x11000, len: 8, write: true }]);
  let pending = 1;
  assertEquals(drainQueue(t.ctx, 0, () => (pending--, 3), { while: () => pending > 0 }), false);
  assertEquals(t.d.usedIdx, 1);
  pending = 5;
  assertEquals(drainQueue(t.ctx, 0, () => (pending--, 3), { while: () => pending > 0 }), true);
  assertEquals(t.d.usedIdx, 2);
  assertEquals(pending, 4);
});
