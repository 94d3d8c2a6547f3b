import { fromBinary } from "@bufbuild/protobuf";
import { assert, assertEquals } from "../tests/assert.ts";
import { TtrpcServer } from "../ttrpc/mod.ts";
import { type Envelope, Events } from "./gen/containerd/services/events/ttrpc/v1/events_pb.ts";
import {
  TaskDeleteSchema,
  TaskExitSchema,
  TaskStartSchema,
} from "./gen/containerd/events/task_pb.ts";
import { encodeEvent, EventPublisher } from "./events.ts";

Deno.test("events: type URLs are containerd's bare names", () => {
  const at = new Date("2026-01-02T03:04:05Z");
  const exit = encodeEvent({
    topic: "/tasks/exit",
    containerId: "c1",
    id: "c1",
    pid: 42,
    exitStatus: 137,
    exitedAt: at,
  });
  assertEquals(exit.typeUrl, "containerd.events.TaskExit");
  const m = fromBinary(TaskExitSchema, exit.value);
  assertEquals([m.containerId, m.id, m.pid, m.exitStatus], ["c1", "c1", 42, 137]);
  assertEquals(m.exitedAt?.seconds, BigInt(at.getTime() / 1000));
  const del = encodeEvent({
    topic: "/tasks/delete",
    containerId: "c1",
    id: "",
    pid: 42,
    exitStatus: 137,
    exitedAt: at,
  });
  assertEquals(del.typeUrl, "containerd.events.TaskDelete");
  const d = fromBinary(TaskDeleteSchema, del.value);
  assertEquals([d.containerId, d.id, d.pid, d.exitStatus], ["c1", "", 42, 137]);
  assertEquals(d.exitedAt?.seconds, BigInt(at.getTime() / 1000));
  assertEquals(
    encodeEvent({ topic: "/tasks/start", containerId: "c1", pid: 7 }).typeUrl,
    "containerd.events.TaskStart",
  );
  assertEquals(
    encodeEvent({ topic: "/tasks/exec-added", containerId: "c1", execId: "e" }).typeUrl,
    "containerd.events.TaskExecAdded",
  );
});

// A ttRPC Events server standing in for containerd's, started late on purpose.
Deno.test("events: queued while containerd is away, then delivered in order", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/containerd.sock.ttrpc`;
  const got: Envelope[] = [];
  const pub = new EventPublisher({ namespace: "ns1", ttrpcAddress: `unix://${path}` });
  try {
    pub.publish({ topic: "/tasks/start", containerId: "c1", pid: 1 });
    pub.publish({
      topic: "/tasks/exit",
      containerId: "c1",
      id: "c1",
      pid: 1,
      exitStatus: 3,
      exitedAt: new Date(),
    });
    pub.publish({
      topic: "/tasks/delete",
      containerId: "c1",
      id: "",
      pid: 1,
      exitStatus: 3,
      exitedAt: new Date(),
    });
    assertEquals(await pub.flush(300), false);
    const server = new TtrpcServer().register(Events, {
      forward(req) {
        if (req.envelope) got.push(req.envelope);
        return {};
      },
    });
    const listener = Deno.listen({ transport: "unix", path });
    const serving = server.serve(listener);
    assert(await pub.flush(10_000), "the queue did not drain");
    assertEquals(got.map((e) => e.topic), ["/tasks/start", "/tasks/exit", "/tasks/delete"]);
    assertEquals(got.map((e) => e.namespace), ["ns1", "ns1", "ns1"]);
    assertEquals(got[0].event?.typeUrl, "containerd.events.TaskStart");
    assertEquals(fromBinary(TaskStartSchema, got[0].event!.value).pid, 1);
    assert(got[0].timestamp !== undefined);
    pub.close();
    listener.close();
    await serving;
  } finally {
    pub.close();
    await Deno.remove(dir, { recursive: true });
  }
});
