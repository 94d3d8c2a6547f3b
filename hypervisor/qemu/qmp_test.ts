/**
 * QMP client tests against a scripted in-process QMP peer on a Unix socket
 * (a protocol-level test double; qmp_real_test.ts and qemu_real_test.ts run
 * real QEMU where it is installed).
 */
import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { DeadlineExceededError, UnavailableError } from "../../common/errors.ts";
import { QmpClient, QmpError } from "./qmp.ts";

type Msg = { execute: string; arguments?: Record<string, unknown>; id?: unknown };

/** A peer that speaks QMP framing and answers per `script`; records what it got. */
async function peer(script: (m: Msg, send: (o: unknown) => void, close: () => void) => void) {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/qmp.sock`;
  const l = Deno.listen({ transport: "unix", path });
  const got: Msg[] = [];
  const served = (async () => {
    const c = await l.accept();
    const enc = new TextEncoder();
    let open = true;
    const send = (o: unknown) => {
      if (open) c.write(enc.encode(JSON.stringify(o) + "\r\n")).catch(() => {});
    };
    const close = () => {
      open = false;
      c.close();
    };
    send({
      QMP: {
        version: { qemu: { major: 7, minor: 2, micro: 0 }, package: "" },
        capabilities: ["oob"],
      },
    });
    let negotiated = false;
    let rest = "";
    const buf = new Uint8Array(4096);
    while (open) {
      const n = await c.read(buf).catch(() => null);
      if (n === null) break;
      const parts = (rest + new TextDecoder().decode(buf.subarray(0, n))).split("\n");
      rest = parts.pop()!;
      for (const p of parts.filter((x) => x.trim())) {
        const m = JSON.parse(p) as Msg;
        got.push(m);
        if (!negotiated) {
          if (m.execute === "qmp_capabilities") {
            negotiated = true;
            send({ return: {}, id: m.id });
          } else {
            send({
              error: {
                class: "CommandNotFound",
                desc: "Expecting capabilities negotiation with 'qmp_capabilities'",
              },
              id: m.id,
            });
          }
          continue;
        }
        script(m, send, close);
      }
    }
    if (open) c.close();
  })();
  return {
    path,
    got,
    async done() {
      await served;
      l.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("QMP: greeting, capabilities first, replies routed by id with events interleaved", async () => {
  const p = await peer((m, send, close) => {
    switch (m.execute) {
      case "query-status":
        // An event arrives before the reply; it must not be taken for it.
        send({ event: "RESUME", timestamp: { seconds: 1, microseconds: 2 } });
        send({ return: { status: "running", running: true }, id: m.id });
        break;
      case "stop":
      case "cont":
      case "device_add":
      case "netdev_add":
      case "blockdev-add":
        send({ return: {}, id: m.id });
        break;
      case "quit":
        send({ return: {}, id: m.id });
        send({ event: "SHUTDOWN", data: { guest: false, reason: "host-qmp-quit" } });
        close();
        break;
      default:
        send({
          error: { class: "CommandNotFound", desc: `The command ${m.execute} has not been found` },
          id: m.id,
        });
    }
  });
  const q = await QmpClient.connect(p.path);
  const events: string[] = [];
  q.onEvent((e) => events.push(e.event));
  assertEquals(q.greeting.version.qemu.major, 7);
  assertEquals(await q.queryStatus(), { status: "running", running: true });
  await q.execute("stop");
  await q.execute("cont");
  await q.netdevAddTap({ id: "net0", ifname: "tap0_kata", vhost: true });
  await q.blockdevAddFile({ nodeName: "blk0", filename: "/x.img", readOnly: true });
  await q.blockdevAddFile({
    nodeName: "blk1",
    filename: "/dev/mapper/pool-snap-2",
    readOnly: false,
    hostDevice: true,
  });
  await q.deviceAdd({
    driver: "virtio-net-pci",
    id: "nic0",
    netdev: "net0",
    mac: "02:00:00:00:00:01",
  });
  const e = await assertRejects(() => q.execute("nonsense"), QmpError);
  assertEquals(
    e.message,
    "QMP command nonsense failed: CommandNotFound: The command nonsense has not been found",
  );
  assertEquals(e.errorClass, "CommandNotFound");
  await q.quit();
  await q.closed;
  await assertRejects(() => q.queryStatus(), UnavailableError, "QMP connection closed");
  assertEquals(events, ["RESUME", "SHUTDOWN"]);
  await p.done();
  assertEquals(p.got.map((m) => m.execute), [
    "qmp_capabilities",
    "query-status",
    "stop",
    "cont",
    "netdev_add",
    "blockdev-add",
    "blockdev-add",
    "device_add",
    "nonsense",
    "quit",
  ]);
  assertEquals(p.got[4].arguments, {
    type: "tap",
    id: "net0",
    ifname: "tap0_kata",
    script: "no",
    downscript: "no",
    vhost: true,
  });
  assertEquals(p.got[5].arguments, {
    driver: "raw",
    "node-name": "blk0",
    "read-only": true,
    file: { driver: "file", filename: "/x.img", "read-only": true },
  });
  // A block device (a devmapper snapshot) needs QEMU's host_device driver.
  assertEquals((p.got[6].arguments as { file: unknown }).file, {
    driver: "host_device",
    filename: "/dev/mapper/pool-snap-2",
    "read-only": false,
  });
});

Deno.test("QMP: device_del resolves only on its DEVICE_DELETED; a missing event times out", async () => {
  const p = await peer((m, send) => {
    if (m.execute === "device_del") {
      send({ return: {}, id: m.id });
      const dev = m.arguments!.id;
      if (dev === "stuck") return;
      // Another device's event first, then ours, a little later.
      setTimeout(() => send({ event: "DEVICE_DELETED", data: { device: "other", path: "/x" } }), 5);
      setTimeout(() => send({ event: "DEVICE_DELETED", data: { device: dev, path: "/y" } }), 20);
    } else if (m.execute === "device_add") {
      send({ error: { class: "GenericError", desc: "Duplicate device ID 'nic0'" }, id: m.id });
    }
  });
  const q = await QmpClient.connect(p.path);
  await q.deviceDel("nic0");
  await assertRejects(
    () => q.deviceDel("stuck", 50),
    DeadlineExceededError,
    "DEVICE_DELETED did not arrive",
  );
  await assertRejects(
    () => q.deviceAdd({ driver: "virtio-net-pci", id: "nic0" }),
    QmpError,
    "Duplicate device ID",
  );
  q.close();
  await q.closed;
  await p.done();
});

Deno.test("QMP: connect gives up when the VMM is gone or the deadline passes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assertRejects(
      () =>
        QmpClient.connect(`${dir}/none.sock`, {
          abandon: Promise.reject(new UnavailableError("QEMU exited: boom")),
        }),
      UnavailableError,
      "QEMU exited: boom",
    );
    await assertRejects(
      () => QmpClient.connect(`${dir}/none.sock`, { timeoutMs: 30 }),
      DeadlineExceededError,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
