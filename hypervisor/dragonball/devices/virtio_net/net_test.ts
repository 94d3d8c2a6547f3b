/**
 * virtio-net against a real tap in a network namespace made by the test: the
 * simulated guest sends an ARP request for the tap's address through the tx
 * queue and must get the host kernel's ARP reply in its rx queue.
 */
import { InvalidArgumentError } from "../../../../common/errors.ts";
import { assert, assertEquals, assertThrows } from "../../../../tests/assert.ts";
import { GuestMemory } from "../../memory.ts";
import { TestDriver } from "../virtio/driver_testing.ts";
import { NET_HDR_SIZE, parseMac, VirtioNet } from "./net.ts";
import { testsNeeding } from "../../../../tests/tier.ts";

/** test: these tests need more than the unit tier (ignored, saying why, where missing). */
const test = testsNeeding({ root: true, peers: ["ip"] });

async function ip(...args: string[]): Promise<void> {
  const out = await new Deno.Command("ip", { args, stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

const GUEST_MAC = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

function arpRequest(): Uint8Array {
  const f = new Uint8Array(NET_HDR_SIZE + 42);
  const e = f.subarray(NET_HDR_SIZE);
  e.fill(0xff, 0, 6);
  e.set(GUEST_MAC, 6);
  e.set([0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1], 12);
  e.set(GUEST_MAC, 22);
  e.set([10, 78, 0, 2], 28);
  e.set([10, 78, 0, 1], 38);
  return f;
}

Deno.test("virtio-net: MAC parsing", () => {
  assertEquals([...parseMac("52:54:00:12:34:56")], GUEST_MAC);
  assertThrows(() => parseMac("52:54:00:12:34"), InvalidArgumentError);
});

test("virtio-net: an ARP request through a real tap gets the kernel's reply", async () => {
  const ns = `vnettest${Deno.pid}`;
  await ip("netns", "add", ns);
  let dev: VirtioNet | undefined;
  try {
    await ip("-n", ns, "tuntap", "add", "dev", "vt0", "mode", "tap");
    await ip("-n", ns, "addr", "add", "10.78.0.1/24", "dev", "vt0");
    await ip("-n", ns, "link", "set", "vt0", "up");
    dev = VirtioNet.open("vt0", { netns: `/run/netns/${ns}`, mac: "52:54:00:12:34:56" });
    const cfg = new Uint8Array(6);
    dev.readConfig(0, cfg);
    assertEquals([...cfg], GUEST_MAC);
    const memory = GuestMemory.fromBuffers([[0, 0x400000]]);
    const rx = new TestDriver(16, memory, 0);
    const tx = new TestDriver(16, memory, 0x100000);
    let signals = 0;
    dev.activate({
      memory,
      queues: [rx.queue, tx.queue],
      features: 0n,
      signalUsed: () => signals++,
    });
    for (let i = 0; i < 4; i++) {
      rx.addChain([{ addr: 0x200000 + i * 0x10000, len: 0x10000, write: true }]);
    }
    dev.notify(0);
    memory.write(0x300000, arpRequest());
    tx.addChain([{ addr: 0x300000, len: NET_HDR_SIZE + 42 }]);
    dev.notify(1);
    assertEquals(tx.usedIdx, 1);
    let reply: Uint8Array | undefined;
    for (let i = 0; i < 200 && !reply; i++) {
      await new Promise((r) => setTimeout(r, 10));
      for (let u = 0; u < rx.usedIdx; u++) {
        const { id, len } = rx.used(u);
        const frame = memory.read(0x200000 + id * 0x10000, len).subarray(NET_HDR_SIZE);
        if (frame[12] === 0x08 && frame[13] === 0x06 && frame[21] === 2) reply = frame;
      }
    }
    assert(reply, "no ARP reply reached the guest");
    assertEquals([...reply.subarray(0, 6)], GUEST_MAC); // addressed to the guest
    assertEquals([...reply.subarray(28, 32)], [10, 78, 0, 1]); // sender: the tap's address
    assert(signals > 0);
  } finally {
    await dev?.close();
    await ip("netns", "del", ns);
  }
});

Deno.test("virtio-net slot: no tap, frames dropped, MAC saved; a malformed MAC is refused", async () => {
  const nic = VirtioNet.slot("52:54:00:12:34:56");
  assertEquals(nic.hasTap, false);
  const memory = GuestMemory.fromBuffers([[0, 0x100000]]);
  const rx = new TestDriver(16, memory, 0);
  const tx = new TestDriver(16, memory, 0x10000);
  nic.activate({ memory, queues: [rx.queue, tx.queue], features: 0n, signalUsed() {} });
  memory.write(0x80000, arpRequest());
  tx.addChain([{ addr: 0x80000, len: NET_HDR_SIZE + 42 }]);
  nic.notify(1);
  assertEquals([tx.usedIdx, tx.used(0).len], [1, 0], "the frame is returned, sent nowhere");
  const saved = JSON.parse(JSON.stringify(nic.saveState()));
  assertEquals(saved, { mac: "52:54:00:12:34:56" });
  VirtioNet.slot().restoreState(saved);
  assertThrows(() => nic.restoreState({ mac: "52:54" }), InvalidArgumentError, "virtio-net NIC");
  await nic.close();
});
