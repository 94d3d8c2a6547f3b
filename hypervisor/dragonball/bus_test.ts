import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { Bus, BusConflictError, type BusDevice } from "./bus.ts";

class Recorder implements BusDevice {
  log: string[] = [];
  read(offset: number, data: Uint8Array) {
    data.fill(offset);
    this.log.push(`r${offset}/${data.length}`);
  }
  write(offset: number, data: Uint8Array) {
    this.log.push(`w${offset}=${data[0]}`);
  }
}

Deno.test("bus routes accesses with offsets relative to the device", () => {
  const bus = new Bus();
  const a = new Recorder();
  bus.insert(0x3f8, 8, a);
  const b = new Uint8Array(1);
  assertEquals(bus.read(0x3fd, b), true);
  assertEquals(b[0], 5);
  assertEquals(bus.write(0x3f8, Uint8Array.of(7)), true);
  assertEquals(bus.read(0x400, b), false);
  assertEquals(bus.read(0x3ff, new Uint8Array(2)), false); // straddles the end
  assertEquals(a.log, ["r5/1", "w0=7"]);
});

Deno.test("bus refuses overlapping ranges", () => {
  const bus = new Bus();
  bus.insert(0x1000, 0x1000, new Recorder());
  assertThrows(() => bus.insert(0x1fff, 2, new Recorder()), BusConflictError);
  bus.insert(0x2000, 0x10, new Recorder());
});
