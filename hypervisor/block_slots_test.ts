import { assertEquals, assertThrows } from "../tests/assert.ts";
import { BlockSlots } from "./block_slots.ts";

const naming = { owner: "built-in VMM", kind: "block", slotName: (i: number) => `slot ${i}` };

Deno.test("block slots: first free slot, asked-for slot, release and reuse", () => {
  const s = new BlockSlots(2, 3, naming);
  assertEquals(s.pick({ id: "a" }), 2);
  s.set(2, { id: "a" });
  assertEquals(s.pick({ id: "b", index: 4 }), 4);
  s.set(4, { id: "b" });
  assertEquals(s.pick({ id: "c" }), 3);
  s.set(3, { id: "c" });
  assertEquals(s.slotOf("b", "vm1"), 4);
  assertEquals(s.holder(3)?.id, "c");
  s.release("b");
  assertEquals(s.holder(4), undefined);
  assertEquals(s.pick({ id: "d" }), 4, "a freed slot is used again");
});

Deno.test("block slots: more devices than slots, a taken or out-of-range slot, an unknown id", () => {
  const s = new BlockSlots(1, 2, naming);
  s.set(s.pick({ id: "a" }), { id: "a" });
  s.set(s.pick({ id: "b" }), { id: "b" });
  assertThrows(
    () => s.pick({ id: "c" }),
    Error,
    'Cannot add block device "c": all 2 built-in VMM block slots are in use',
  );
  assertThrows(() => s.pick({ id: "c", index: 1 }), Error, "slot 1 is in use");
  assertThrows(() => s.pick({ id: "c", index: 0 }), Error, "has 2 block slots");
  assertThrows(() => s.pick({ id: "c", index: 3 }), Error, "has 2 block slots");
  assertThrows(() => s.slotOf("zz", "vm1"), Error, 'Block device "zz" not found on vm1');
  assertEquals(BlockSlots.guestPath(0), "/dev/vda");
  assertEquals(BlockSlots.guestPath(3), "/dev/vdd");
});
